"""A CNN for the ablation: ``features`` → head (the switch) → fc layers → classifier."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spp_lab.models.heads import make_head


def conv_map_size(features: nn.Module, size: int) -> tuple[int, int]:
    """Spatial size of ``features``' output for a ``size×size`` input."""
    was_training = features.training
    features.eval()
    with torch.no_grad():
        out = features(torch.zeros(1, 3, size, size))
    features.train(was_training)
    return out.shape[-2], out.shape[-1]


class SPPNet(nn.Module):
    """``features``, a head from :func:`make_head`, ``fc_dims`` hidden layers with dropout."""

    def __init__(
        self,
        features: nn.Module,
        channels: int,
        num_classes: int,
        *,
        head: str,
        levels: tuple[int, ...],
        pool: str,
        bins: str,
        pool5_bins: int,
        train_size: int,
        fc_dims: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        self.features = features
        self.map_size = conv_map_size(features, train_size)
        self.head, width = make_head(
            head, channels, self.map_size, levels=levels, pool=pool, bins=bins,
            pool5_bins=pool5_bins, train_size=train_size,
        )
        layers: list[nn.Module] = []
        for dim in fc_dims:
            layers += [nn.Linear(width, dim), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = dim
        self.fc = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.fc(self.head(self.features(x))))
