"""Data: the embedded ``shapes`` set, image folders, CIFAR-10 and Caltech101, each a
registered dataset (``spp_lab/data/sets/``). Importing the package does not import torch:
the settings, the registry and the folder checks are plain Python; the LightningDataModule
loads on first use."""

from __future__ import annotations

from typing import Any

__all__ = ["SPPDataModule", "SizeBatchSampler"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from spp_lab.data import module

        return getattr(module, name)
    raise AttributeError(f"module 'spp_lab.data' has no attribute {name!r}")
