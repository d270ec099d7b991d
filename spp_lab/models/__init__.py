"""Backbones and heads: the SPP-net paper's architectures, and torchvision's and timm's
networks, by name.

Importing this package does not import torch: the registries, the catalog of other
libraries' networks (measured once, then read from a cache) and the architectures' geometry
are plain Python (the config and the pre-run checks read them); the ``nn.Module`` classes
load on first use.

    >>> from spp_lab.models import get_model, list_heads, list_models
    >>> list_models()[:4], {"spp", "pool", "global"} <= set(list_heads())
    (['zf5', 'convnet5', 'overfeat5', 'overfeat7'], True)
"""

from __future__ import annotations

from typing import Any

from spp_lab.models import heads, paper, sources, tv  # noqa: F401  (register the built-ins)
from spp_lab.models._api import (
    HeadSpec,
    Trunk,
    arch_spec,
    head_spec,
    list_heads,
    list_models,
    register_head,
    register_model,
)

__all__ = ["HeadSpec", "ModelConfig", "SPPNet", "Trunk", "arch_spec", "build_net",
           "get_model", "head_spec", "list_heads", "list_models", "register_head",
           "register_model"]
_LAZY = {"SPPNet": "spp_lab.models.net", "build_net": "spp_lab.models.build",
         "get_model": "spp_lab.models.build", "ModelConfig": "spp_lab.models.settings"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spp_lab.models' has no attribute {name!r}")
