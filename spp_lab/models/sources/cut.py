"""Measuring a cut network on torch's meta device (shapes only: no memory, no arithmetic).

``features`` is a module that maps a ``(N, 3, H, W)`` image to its ``(N, C, h, w)`` conv
map; these helpers give its channels, its map side for an input side, and the smallest
side every layer can take, as the network computes them.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def on_meta(make: Callable[[], nn.Module]) -> nn.Module:
    """``make()`` built on the meta device; where a constructor copies real data (RegNet's
    init), built on the CPU and moved there."""
    try:
        with torch.device("meta"):
            return make()
    except (NotImplementedError, RuntimeError):
        return make().to("meta")


def map_shape(features: nn.Module, side: int) -> tuple[int, ...] | None:
    """The output shape for one ``side×side`` input, or None where a layer cannot take it."""
    features.eval()
    with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):  # fx prints failures
        try:
            out = features(torch.empty(1, 3, side, side, device="meta"))
        except (RuntimeError, ValueError, IndexError, AssertionError):
            return None
    return tuple(out.shape)


def sides(features: nn.Module, wanted: list[int]) -> dict[int, int | None]:
    """``{input side: map side or None}``; a map of another layout than ``(1, C, h, w)``
    with ``h == w`` counts as one the head cannot take."""
    out: dict[int, int | None] = {}
    for side in wanted:
        shape = map_shape(features, side)
        ok = shape is not None and len(shape) == 4 and shape[2] == shape[3] and shape[2] >= 1
        out[side] = int(shape[2]) if ok else None  # type: ignore[index]
    return out


def min_side(features: nn.Module, start: int = 224) -> int | None:
    """The smallest input side that every layer takes (a bisection: a network that takes a
    side takes every larger one), or None if even ``start`` fails."""
    if sides(features, [start])[start] is None:
        return None
    lo, hi = 0, start  # lo fails (or is 0), hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if sides(features, [mid])[mid] is not None else (mid, hi)
    return hi


def measure(features: nn.Module, input_size: int) -> dict[str, Any]:
    """Channels, the map at the input size, and the smallest side (``describe``'s part)."""
    shape = map_shape(features, input_size)
    if shape is None or len(shape) != 4:
        raise ValueError(f"gives no (C, h, w) conv map at {input_size} px (shape {shape})")
    return {"channels": int(shape[1]), "input_size": input_size,
            "min_side": min_side(features, input_size),
            "sides": {str(input_size): int(shape[2])}}
