"""pool5 with its window fixed at the training map size: the SPP-net paper's no-SPP baseline.

A ``k×k`` output at the training size: window and stride from the §2.3 formula where it
gives ``k`` bins, else the smallest window at the largest stride that does
(:func:`~spp_lab.layers.bins.fixed_window`); ZF-5 at 224 px: 13×13 map, window 3, stride 2,
6×6 bins. Output width ``C·k²``. At another input size the window no longer gives ``k×k``
and the layer raises: that fixed input size is what SPP removes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from spp_lab.layers.bins import fixed_window


def _window(a: int, k: int) -> tuple[int, int]:
    found = fixed_window(a, k)
    if found:
        return found
    raise ValueError(f"head='pool' cannot make {k}×{k} bins from a {a}-pixel conv map; "
                     "use a larger image_size, fewer pool5_bins, or head='spp'")


class FixedPool2d(nn.Module):
    """``k×k`` max (or average) pooling of a ``map_size`` map, window and stride fixed."""

    def __init__(self, map_size: tuple[int, int], bins: int, pool: str = "max",
                 train_size: int | None = None) -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"head='pool' takes pool 'max' or 'avg', got {pool!r}")
        self.bins, self.pool, self.train_size, self.map_size = bins, pool, train_size, map_size
        (wh, sh), (ww, sw) = (_window(a, bins) for a in map_size)
        self.kernel, self.stride = (wh, ww), (sh, sw)

    def forward(self, x: Tensor) -> Tensor:
        if self.pool == "max":
            y = F.max_pool2d(x, self.kernel, self.stride)
        else:
            y = F.avg_pool2d(x, self.kernel, self.stride)
        if y.shape[-2:] != (self.bins, self.bins):
            size = f" of a {self.train_size} px input" if self.train_size else ""
            raise ValueError(
                f"head='pool' has a fixed pool5 (window {self.kernel}, stride {self.stride}) fit "
                f"to the {self.map_size[0]}×{self.map_size[1]} conv map{size}; this input's "
                f"{x.shape[-2]}×{x.shape[-1]} map gives {y.shape[-2]}×{y.shape[-1]} bins but fc6 "
                f"expects {self.bins}×{self.bins}. A fixed-size head only takes its training "
                "size: use head='spp' for any size")
        return y.flatten(1)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, bins={self.bins}, pool={self.pool!r}"
