"""A CNN for the ablation: ``features`` → head (the switch) → fc layers → classifier."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def conv_map_size(features: nn.Module, size: int) -> tuple[int, int]:
    """Spatial size of ``features``' output for a ``size×size`` input."""
    was_training = features.training
    features.eval()
    with torch.no_grad():
        out = features(torch.zeros(1, 3, size, size))
    features.train(was_training)
    return out.shape[-2], out.shape[-1]


class SPPNet(nn.Module):
    """``features``, a ``head`` of output ``width``, ``fc_dims`` hidden layers with dropout,
    then the classifier (:func:`spp_lab.models.build_net` puts one together)."""

    def __init__(self, features: nn.Module, head: nn.Module, width: int, num_classes: int,
                 *, fc_dims: tuple[int, ...] = (), dropout: float = 0.0,
                 map_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.features, self.head, self.map_size = features, head, map_size
        layers: list[nn.Module] = []
        for dim in fc_dims:
            layers += [nn.Linear(width, dim), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = dim
        self.fc = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.fc(self.head(self.features(x))))
