"""Pooling layers: spatial pyramid pooling, its bin formulas, cross-channel LRN.

Importing the package does not import torch (the config reads ``layers.choices``); the
torch modules load on first use of a name below.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"SpatialPyramidPool2d": "spp", "spatial_pyramid_pool": "spp",
         "spp_output_width": "pools", "LocalResponseNorm2d": "lrn", "PYRAMID": "settings",
         "PyramidSettings": "settings"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"spp_lab.layers.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'spp_lab.layers' has no attribute {name!r}")
