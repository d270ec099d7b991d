"""Spatial pyramid pooling (He, Zhang, Ren, Sun: SPP-net, TPAMI 2015, arXiv 1406.4729).

For levels ``(n_1, ..., n_L)`` each level splits the ``H×W`` map into an ``n×n`` grid of bins
(:mod:`spp_lab.layers.bins` gives the two bin formulas) and pools each bin per channel, so
any input size gives a fixed-width vector:

    width = C · Σ_l n_l²            (pool = max | avg | avgmax)
    width = 2 · C · Σ_l n_l²        (pool = catavgmax: the avg pyramid, then the max pyramid)

Output order: level by level in the order given, then channel, then bin row-major:
``out[:, off_l + c·n_l² + i·n_l + j] = pool(x[:, c, rows_i, cols_j])`` with
``off_l = C · Σ_{k<l} n_k²``. ``avg`` divides by the bin's own area (no zero padding);
``avgmax`` is ``(avg + max) / 2``.

Fast path (see :mod:`spp_lab.layers.spp_fast`): where every coarser bin is an exact union of
bins of the finest level, the map is read once, at the finest level, and the coarse levels
are pooled from that small result; otherwise each level pools the map directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spp_lab.layers.bins import BIN_MODES, check_paper_bins, paper_window
from spp_lab.layers.pools import POOL_TYPES, POOLS, spp_output_width
from spp_lab.layers.settings import PYRAMID
from spp_lab.layers.spp_fast import plan_pyramid, pyramid_max

__all__ = ["SpatialPyramidPool2d", "spatial_pyramid_pool", "spp_output_width"]


def _pool_level(x: Tensor, n: int, pool: str, bins: str) -> Tensor:
    """One level, pooled directly from the map: (N, C, n, n)."""
    if bins == "adaptive":
        return F.adaptive_max_pool2d(x, n) if pool == "max" else F.adaptive_avg_pool2d(x, n)
    (wh, sh), (ww, sw) = paper_window(x.shape[-2], n), paper_window(x.shape[-1], n)
    if pool == "max":
        return F.max_pool2d(x, (wh, ww), (sh, sw))
    return F.avg_pool2d(x, (wh, ww), (sh, sw), count_include_pad=False)


def _pyramid(x: Tensor, levels: tuple[int, ...], pool: str, bins: str) -> Tensor:
    """One pool type (max or avg) over all levels, fast path where it is exact."""
    plan = plan_pyramid(x.shape[-2], x.shape[-1], levels, bins, pool)
    if pool == "max" and plan is not None:
        return pyramid_max(x, levels, bins, plan)
    if pool == "avg" and plan is not None:
        fine = _pool_level(x, plan, "avg", bins)
        # Disjoint equal-area fine bins: a coarse bin's mean is the mean of its fine means.
        outs = [fine if n == plan else F.adaptive_avg_pool2d(fine, n) for n in levels]
    else:
        outs = [_pool_level(x, n, pool, bins) for n in levels]
    return torch.cat([o.flatten(1) for o in outs], dim=1)


def _check_options(pool: str, bins: str) -> None:
    if pool not in POOL_TYPES:
        raise ValueError(f"unknown pool {pool!r}; allowed: {', '.join(POOL_TYPES)}")
    if bins not in BIN_MODES:
        raise ValueError(f"unknown bins {bins!r}; allowed: {', '.join(BIN_MODES)}")


def spatial_pyramid_pool(x: Tensor, levels: Sequence[int] = PYRAMID.levels,
                         pool: str = PYRAMID.pool, bins: str = PYRAMID.bins) -> Tensor:
    """Pool ``x`` of shape (N, C, H, W) into (N, :func:`spp_output_width`); the defaults
    are :data:`~spp_lab.layers.settings.PYRAMID`'s (max pooling, adaptive bins).

    >>> import torch
    >>> spatial_pyramid_pool(torch.randn(2, 16, 13, 9), (4, 2, 1)).shape  # 16·(16+4+1)
    torch.Size([2, 336])
    """
    if x.dim() != 4:
        raise ValueError(f"SPP expects a 4-D (N, C, H, W) map, got shape {tuple(x.shape)}")
    _check_options(pool, bins)
    levels = tuple(int(n) for n in levels)
    if not levels or min(levels) < 1:
        raise ValueError(f"levels must be positive integers, got {levels}")
    if bins == "paper":
        check_paper_bins(x.shape[-2], x.shape[-1], levels)
    combine, _ = POOLS[pool]
    return combine(lambda kind: _pyramid(x, levels, kind, bins))


class SpatialPyramidPool2d(nn.Module):
    """Module form of :func:`spatial_pyramid_pool`; ``out_width(C)`` gives its width. Drop
    it into a network of your own in place of its last pooling layer:

    >>> import torch
    >>> spp = SpatialPyramidPool2d((6, 3, 2, 1))  # the paper's pyramid; max, adaptive bins
    >>> spp.out_width(256), spp(torch.randn(1, 256, 13, 13)).shape, spp(
    ...     torch.randn(1, 256, 10, 17)).shape  # any map size, one width
    (12800, torch.Size([1, 12800]), torch.Size([1, 12800]))
    """

    def __init__(self, levels: Sequence[int] = PYRAMID.levels, pool: str = PYRAMID.pool,
                 bins: str = PYRAMID.bins) -> None:
        super().__init__()
        _check_options(pool, bins)
        self.levels, self.pool, self.bins = tuple(int(n) for n in levels), pool, bins

    def out_width(self, channels: int) -> int:
        return spp_output_width(channels, self.levels, self.pool)

    def forward(self, x: Tensor) -> Tensor:
        return spatial_pyramid_pool(x, self.levels, self.pool, self.bins)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, pool={self.pool!r}, bins={self.bins!r}"
