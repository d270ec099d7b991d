"""The ablation's switch: what turns the last conv map into a fixed-width vector.

* ``spp``: a spatial pyramid (any input size), width ``C · Σ n²``.
* ``pool``: the paper's no-SPP baseline, one fixed-window pool5 fit at the training size to
  ``k×k`` bins (ZF-5 at 224 px: 13×13 map, window 3, stride 2, 6×6 = 36 bins), width ``C·k²``.
  At another input size the window no longer gives ``k×k`` and the head raises: that fixed
  input size is what SPP removes.
* ``global``: global pooling to 1×1, width ``C``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from spp_lab.layers.bins import fixed_window
from spp_lab.layers.choices import HEADS
from spp_lab.layers.spp import SpatialPyramidPool2d, spp_output_width


def _fixed_window(a: int, k: int) -> tuple[int, int]:
    found = fixed_window(a, k)
    if found:
        return found
    raise ValueError(
        f"head='pool' cannot make {k}×{k} bins from a {a}-pixel conv map; "
        "use a larger image_size, fewer pool5_bins, or head='spp'"
    )


class FixedPool(nn.Module):
    """pool5 with a window and stride fixed at the training map size (the no-SPP baseline)."""

    def __init__(self, map_size: tuple[int, int], bins: int, pool: str, train_size: int) -> None:
        super().__init__()
        self.bins, self.pool, self.train_size, self.map_size = bins, pool, train_size, map_size
        (wh, sh), (ww, sw) = (_fixed_window(a, bins) for a in map_size)
        self.kernel, self.stride = (wh, ww), (sh, sw)

    def forward(self, x: Tensor) -> Tensor:
        if self.pool == "max":
            y = F.max_pool2d(x, self.kernel, self.stride)
        else:
            y = F.avg_pool2d(x, self.kernel, self.stride)
        if y.shape[-2:] != (self.bins, self.bins):
            raise ValueError(
                f"head='pool' has a fixed pool5 (window {self.kernel}, stride {self.stride}) fit "
                f"to the {self.map_size[0]}×{self.map_size[1]} conv map of a {self.train_size} px "
                f"input; this input's {x.shape[-2]}×{x.shape[-1]} map gives "
                f"{y.shape[-2]}×{y.shape[-1]} bins but fc6 expects {self.bins}×{self.bins}. "
                "A fixed-size head only takes its training size: use head='spp' for any size"
            )
        return y.flatten(1)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, bins={self.bins}, pool={self.pool!r}"


def make_head(
    kind: str,
    channels: int,
    map_size: tuple[int, int],
    *,
    levels: tuple[int, ...],
    pool: str,
    bins: str,
    pool5_bins: int,
    train_size: int,
) -> tuple[nn.Module, int]:
    """The head module and its output width."""
    if kind == "spp":
        return SpatialPyramidPool2d(levels, pool, bins), spp_output_width(channels, levels, pool)
    if kind == "global":
        return (SpatialPyramidPool2d((1,), pool, "adaptive"),
                spp_output_width(channels, (1,), pool))
    if kind == "pool":
        if pool not in ("max", "avg"):
            raise ValueError(f"head='pool' takes pool 'max' or 'avg', got {pool!r}")
        return FixedPool(map_size, pool5_bins, pool, train_size), channels * pool5_bins**2
    raise ValueError(f"unknown head {kind!r}; allowed: {', '.join(HEADS)}")
