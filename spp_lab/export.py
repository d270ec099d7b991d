"""ONNX export of a model with an SPP head, at one fixed input size.

ONNX has no adaptive pooling, so the exported copy pools each pyramid level with a fixed
window: ``a/n`` (window = stride) for adaptive bins, which is exact only where the map side
is a multiple of the level (``a % n == 0``), and the §2.3 window and stride for paper bins.
Elsewhere :func:`export_onnx` raises a ValueError naming the map size, the level, and input
sizes near the requested one that do export. The exporter itself failing (an operator a torch
release cannot lower) becomes a RuntimeError naming the torch version.

    spp-lab export results/<name>/runs/<run_id> --size 64     # → model-64px.onnx beside it
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spp_lab.layers.bins import paper_window
from spp_lab.layers.pools import POOLS
from spp_lab.layers.spp import SpatialPyramidPool2d
from spp_lab.models.net import SPPNet, conv_map_size


class FixedWindowPyramid(nn.Module):
    """The SPP head at one map size: per level ``(kernel, stride)`` pools, the same numbers
    and order as :func:`spp_lab.layers.spatial_pyramid_pool` there."""

    def __init__(self, spp: SpatialPyramidPool2d, map_size: tuple[int, int]) -> None:
        super().__init__()
        self.pool = spp.pool
        self.windows = [tuple(_window(a, n, spp.bins) for a in map_size) for n in spp.levels]

    def _pyramid(self, x: Tensor, kind: str) -> Tensor:
        outs = []
        for (kh, sh), (kw, sw) in self.windows:
            fn = F.max_pool2d if kind == "max" else F.avg_pool2d
            outs.append(fn(x, (kh, kw), (sh, sw)).flatten(1))
        return torch.cat(outs, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return POOLS[self.pool][0](lambda kind: self._pyramid(x, kind))


def _window(a: int, n: int, bins: str) -> tuple[int, int]:
    if bins == "paper":
        found = paper_window(a, n)
        if found is None:
            raise ValueError(f"bins='paper' has no window for a={a}, n={n}")
        return found
    if a % n:
        raise ValueError(f"a={a} is not a multiple of n={n}")
    return a // n, a // n


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


def export_run(checkpoint: Path, size: int, path: Path) -> Path:
    """A run's network from its checkpoint (loaded ``weights_only``) exported at ``size``."""
    from spp_lab.module import SPPClassifier

    model = SPPClassifier.load_from_checkpoint(checkpoint, map_location="cpu",
                                               weights_only=True)
    return export_onnx(model.net, size, path)


def export_onnx(model: SPPNet, size: int, path: str | Path) -> Path:
    """Export ``model`` (a copy, in eval mode) for ``1×3×size×size`` inputs to ``path``."""
    bad = _problem(model, size)
    if bad is not None:
        a, n = bad
        raise ValueError(
            f"ONNX export at {size} px: the conv map is {a}×{a} and level n={n} needs a "
            f"multiple of {n} (ONNX pools with fixed windows). Input sizes near {size} that "
            f"export: {exportable_sizes(model, size)[:12]}")
    model = copy.deepcopy(model).eval()
    if isinstance(model.head, SpatialPyramidPool2d):
        model.head = FixedWindowPyramid(model.head, conv_map_size(model.features, size))
    path = Path(path)
    major, minor = (int(p) for p in torch.__version__.split(".")[:2])
    try:
        torch.onnx.export(model, (torch.zeros(1, 3, size, size),), str(path),
                          dynamo=(major, minor) >= (2, 6), input_names=["image"],
                          output_names=["logits"], verbose=False)
    except Exception as err:  # noqa: BLE001  (the exporter's own limits, per torch release)
        raise RuntimeError(f"ONNX export failed under torch {torch.__version__}: "
                           f"{type(err).__name__}: {str(err)[:300]}") from err
    return path
