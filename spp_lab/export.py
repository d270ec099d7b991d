"""ONNX export of a model with an SPP head, at one fixed input size.

ONNX has no adaptive pooling; the exporter lowers a level to a fixed-window MaxPool/AvgPool
only where the map side is a multiple of the level (``a % n == 0``). Elsewhere
:func:`export_onnx` raises a ValueError naming the map size, the level, and input sizes
near the requested one that do export.
"""

from __future__ import annotations

from pathlib import Path

import torch

from spp_lab.layers.spp import SpatialPyramidPool2d
from spp_lab.models.net import SPPNet, conv_map_size


def exportable_sizes(model: SPPNet, near: int, span: int = 32) -> list[int]:
    """Input sizes within ``span`` px of ``near`` whose conv map every level divides."""
    return [s for s in range(max(8, near - span), near + span + 1)
            if _problem(model, s) is None]


def _problem(model: SPPNet, size: int) -> tuple[int, int] | None:
    head = model.head
    if not isinstance(head, SpatialPyramidPool2d) or head.bins == "paper":
        return None
    try:
        h, w = conv_map_size(model.features, size)
    except RuntimeError:
        return (0, 0)
    for a in (h, w):
        for n in head.levels:
            if a % n:
                return a, n
    return None


def export_onnx(model: SPPNet, size: int, path: str | Path) -> Path:
    """Export ``model`` (eval mode) for ``1×3×size×size`` inputs to ``path``."""
    bad = _problem(model, size)
    if bad is not None:
        a, n = bad
        raise ValueError(
            f"ONNX export at {size} px: the conv map is {a}×{a} and level n={n} needs a "
            f"multiple of {n} (ONNX pools with fixed windows). Input sizes near {size} that "
            f"export: {exportable_sizes(model, size)[:12]}")
    model = model.eval()
    path = Path(path)
    torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(path), dynamo=True,
                      input_names=["image"], output_names=["logits"], verbose=False)
    return path
