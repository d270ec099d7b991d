"""ONNX export of a model with an SPP head, at one fixed input size.

ONNX has no adaptive pooling, so the exported copy pools each pyramid level with a fixed
window: for adaptive bins the window and stride that give exactly the adaptive bins where
one exists (``a % n == 0``, and others: a 3-map into 2 bins is window 2, stride 1), for
paper bins the §2.3 window and stride. Elsewhere :func:`export_onnx` raises a ValueError
naming the map size, the level, and the input sizes that do export, nearest first. The
file stands alone: the weights inside it, the input normalisation inside the graph (feed
RGB pixels, 0-255, as float), and metadata (input size and layout, class names, the run)
in its ``metadata_props``. The exporter itself failing (an operator a torch release cannot
lower) becomes a RuntimeError naming the torch version.

    spp-lab export results/<name>/runs/<run_id> --size 64     # → model-64px.onnx beside it
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spp_lab.layers.bins import adaptive_edges, paper_window
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
    found = adaptive_window(a, n)
    if found is None:
        raise ValueError(f"adaptive bins of a={a} into n={n} are no fixed window")
    return found


def adaptive_window(a: int, n: int) -> tuple[int, int] | None:
    """(window, stride) whose pooling gives exactly the adaptive bins of ``a`` into ``n``,
    or None: the bins must all have one length and start at multiples of one stride."""
    bins = adaptive_edges(a, n)
    sizes = {e - s for s, e in bins}
    stride = bins[1][0] - bins[0][0] if n > 1 else 1
    if len(sizes) != 1 or any(s != i * stride for i, (s, _) in enumerate(bins)):
        return None
    return sizes.pop(), max(stride, 1)


def exportable_sizes(model: SPPNet, near: int, span: int = 32) -> list[int]:
    """Input sizes within ``span`` px of ``near`` that export exactly, nearest first."""
    found = [s for s in range(max(8, near - span), near + span + 1)
             if _problem(model, s) is None]
    return sorted(found, key=lambda s: (abs(s - near), s))


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
            if adaptive_window(a, n) is None:
                return a, n
    return None


class Pixels(nn.Module):
    """The network behind the training input normalisation: takes RGB pixels, 0-255;
    ``mean`` and ``std`` of RGB in [0, 1] (default ImageNet's)."""

    def __init__(self, net: nn.Module, mean: list[float] | None = None,
                 std: list[float] | None = None) -> None:
        super().__init__()
        from spp_lab.models.weights import IMAGENET_MEAN, IMAGENET_STD
        from spp_lab.module import pixel_norm

        self.net = net
        m, s = pixel_norm(list(mean or IMAGENET_MEAN), list(std or IMAGENET_STD))
        self.register_buffer("mean", m)
        self.register_buffer("std", s)

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x - self.mean) / self.std)


def export_run(run_dir: Path, size: int | None, path: Path) -> Path:
    """A finished run's network (its checkpoint loaded ``weights_only``) exported at
    ``size`` (default: the training size), with its class names and size as metadata."""
    import json

    from spp_lab.module import SPPClassifier
    from spp_lab.results import RunFolder

    run = RunFolder(run_dir)
    model = SPPClassifier.load_from_checkpoint(run.last_ckpt, map_location="cpu",
                                               weights_only=True, load_weights=False)
    size = size or int(model.hparams["image_size"])
    try:
        classes = json.loads(run.metrics_file.read_text()).get("classes")
    except (OSError, ValueError):
        classes = None
    meta = {"run_id": run.run_id, "classes": json.dumps(classes)}
    return export_onnx(model.net, size, path, metadata=meta,
                       norm=(model.hparams.get("input_mean"), model.hparams.get("input_std")))


def export_onnx(model: SPPNet, size: int, path: str | Path, pixels: bool = True,
                metadata: dict[str, str] | None = None,
                norm: tuple[list[float] | None, list[float] | None] = (None, None)) -> Path:
    """Export ``model`` (a copy, in eval mode) for ``N×3×size×size`` inputs to ``path``, one
    file. ``pixels``: the graph takes RGB pixels 0-255 and normalises them as training did,
    with ``norm`` (mean, std of RGB in [0, 1]; default ImageNet's), else it takes normalised
    inputs. ``metadata``: more ``metadata_props``."""
    bad = _problem(model, size)
    if bad is not None:
        a, n = bad
        raise ValueError(
            f"ONNX export at {size} px: the conv map is {a}×{a}, and level n={n} of "
            f"adaptive bins there is no fixed window (ONNX pools with fixed windows). "
            f"Input sizes that export, nearest first: {exportable_sizes(model, size)[:8]}")
    model = copy.deepcopy(model).eval()
    if isinstance(model.head, SpatialPyramidPool2d):
        model.head = FixedWindowPyramid(model.head, conv_map_size(model.features, size))
    graph = Pixels(model, *norm).eval() if pixels else model
    path = Path(path)
    major, minor = (int(p) for p in torch.__version__.split(".")[:2])
    dynamo = (major, minor) >= (2, 6)
    batch = ({"dynamic_shapes": ({0: torch.export.Dim("batch")},)} if dynamo else
             {"dynamic_axes": {"image": {0: "batch"}, "logits": {0: "batch"}}})
    try:  # a batch of 2 as the example: torch.export fixes a dimension of size 1
        torch.onnx.export(graph, (torch.zeros(2, 3, size, size),), str(path), dynamo=dynamo,
                          input_names=["image"], output_names=["logits"], verbose=False,
                          external_data=False, **batch)
    except Exception as err:  # noqa: BLE001  (the exporter's own limits, per torch release)
        raise RuntimeError(f"ONNX export failed under torch {torch.__version__}: "
                           f"{type(err).__name__}: {str(err)[:300]}") from err
    _write_metadata(path, {
        "input": f"image: float32 Nx3x{size}x{size}, RGB, "
                 + ("pixels 0-255 (normalised inside)" if pixels else
                    "normalised: (pixel - mean) / std"),
        "image_size": str(size), **_norm_props(graph if pixels else None),
        **(metadata or {})})
    return path


def _norm_props(graph: Pixels | None) -> dict[str, str]:
    """The normalisation inside the graph, in pixel units (as ``mean_rgb_0_255``)."""
    if graph is None:
        return {}
    text = lambda t: ",".join(f"{v:g}" for v in t.flatten().tolist())  # noqa: E731
    return {"mean_rgb_0_255": text(graph.mean), "std_rgb_0_255": text(graph.std)}


def _write_metadata(path: Path, props: dict[str, str]) -> None:
    import onnx

    m = onnx.load(str(path))
    for key, value in props.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(m, str(path), save_as_external_data=False)
