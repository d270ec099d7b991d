"""Backbones: the SPP-net paper's architectures and torchvision ones, by name.

Importing this package does not import torch: the registry and the architectures' geometry
are plain Python (the config and the pre-run checks read them); the ``nn.Module`` classes
load on first use.
"""

from __future__ import annotations

from typing import Any

from spp_lab.models import paper, tv  # noqa: F401  (register the builders)
from spp_lab.models._api import arch_spec, get_model, list_models, register_model

__all__ = ["SPPNet", "arch_spec", "build_net", "get_model", "list_models", "make_head",
           "register_model"]


def build_net(model: Any, *, num_classes: int, image_size: int):
    """The network of a ``ModelConfig``: its architecture with the chosen head, the pool5
    of a ``pool`` head fit to ``image_size``. Only the switches the architecture uses are
    passed (the config has refused non-default values of the others)."""
    spec = arch_spec(model.arch)
    return spec.builder(
        num_classes=num_classes, **{k: getattr(model, k) for k in spec.options},
        head=model.head, levels=tuple(model.levels), pool=model.pool, bins=model.bins,
        pool5_bins=model.pool5_bins, train_size=image_size)


def __getattr__(name: str) -> Any:
    if name == "SPPNet":
        from spp_lab.models.net import SPPNet

        return SPPNet
    if name == "make_head":
        from spp_lab.models.heads import make_head

        return make_head
    raise AttributeError(f"module 'spp_lab.models' has no attribute {name!r}")
