"""One-pass spatial pyramid max pooling: read the map once, at the finest level.

If every bin of a coarse level ``n_c`` is an exact union of bins of the finest level ``n_f``
(taken in the groups that adaptive pooling of the ``n_f×n_f`` grid to ``n_c×n_c`` forms), then

    max over a coarse bin = max over the maxes of its fine bins,

so the coarse levels can be pooled from the small ``(N, C, n_f, n_f)`` result instead of the
map. For ``avg`` the same holds when the fine bins are disjoint and of equal area (``n_f | a``
and ``n_c | n_f``). :func:`plan_pyramid` decides this per input size and level set.

The backward pass is one scatter: the coarse levels' gradients are first added onto the fine
grid through their argmax indices, then the fine grid's gradient is scattered into the map.
Two scatters give the same numbers (:data:`SCATTERS`): ``scatter_add`` (atomics on CUDA) and
``index_put`` (``index_put_(accumulate=True)``, which has a deterministic CUDA kernel, where
adaptive max pooling's own CUDA backward has none). :func:`scatter_method` picks one from the
device and the determinism flag; both run, and are tested, on the CPU with any input strides.
The map's gradient comes back in the input's layout (channels-last for a channels-last map).
At ties the gradient goes to one of the tied maxima, which is a valid subgradient but not
always the element that per-level pooling picks.

The map is pooled in the layout the device's kernel is fastest in (:func:`pool_layout`):
channels-last on the CPU (its pooling kernels vectorise over channels), contiguous NCHW on
CUDA (its NHWC adaptive pooling kernel measured 1.6-1.9x slower on an H200).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from spp_lab.layers.bins import adaptive_edges, edges, paper_window

# Above glibc's largest mmap threshold (32 MiB) every new tensor is a fresh mapping whose pages
# fault on first touch, and a channels-last copy costs more than the faster kernel saves
# (benchmarks/bench_spp.py, 24×24 maps).
_CL_MAX_BYTES = 32 << 20
SCATTERS = ("scatter_add", "index_put")


def _union_exact(a: int, n_f: int, n_c: int, bins: str, disjoint: bool) -> bool:
    fine, coarse = edges(a, n_f, bins), edges(a, n_c, bins)
    for (g0, g1), (c0, c1) in zip(adaptive_edges(n_f, n_c), coarse):
        group = fine[g0:g1]
        if group[0][0] != c0 or max(e for _, e in group) != c1:
            return False
        for (_, e_prev), (s_next, _) in zip(group, group[1:]):
            if s_next > e_prev or (disjoint and s_next != e_prev):
                return False
    return True


@functools.lru_cache(maxsize=4096)
def plan_pyramid(h: int, w: int, levels: tuple[int, ...], bins: str, pool: str) -> int | None:
    """The finest level if every level can be pooled from it exactly, else None."""
    n_f = max(levels)
    for a in (h, w):
        if pool == "avg" and a % n_f:
            return None
        for n in set(levels) - {n_f}:
            if pool == "avg" and n_f % n:
                return None
            if not _union_exact(a, n_f, n, bins, disjoint=pool == "avg"):
                return None
    return n_f


def pool_layout(device_type: str, channels: int, nbytes: int) -> torch.memory_format:
    """The memory format to pool a map in: the layout the device's kernel runs fastest."""
    if device_type == "cpu":
        cpu_fast = channels > 1 and nbytes < _CL_MAX_BYTES
        return torch.channels_last if cpu_fast else torch.contiguous_format
    return torch.contiguous_format


def scatter_method(device_type: str, deterministic: bool) -> str:
    """``index_put`` where a deterministic CUDA kernel is required, else ``scatter_add``."""
    return "index_put" if device_type == "cuda" and deterministic else "scatter_add"


def scatter_to_map(grad_fine: Tensor, idx: Tensor, hw: int, method: str,
                   channels_last: bool = False) -> Tensor:
    """Add ``grad_fine`` (N, C, F) into a zero (N, C, hw) map at argmax indices ``idx``
    (N, C, F, any strides; each index in ``[0, hw)``); the map's memory is (N, hw, C) when
    ``channels_last``, so that ``.view(N, C, H, W)`` is a channels-last tensor."""
    n, c, _ = grad_fine.shape
    store = grad_fine.new_zeros((n, hw, c) if channels_last else (n, c, hw))
    out = store.transpose(1, 2) if channels_last else store
    if method == "scatter_add":
        return out.scatter_add_(2, idx, grad_fine)
    if method != "index_put":
        raise ValueError(f"unknown scatter {method!r}; allowed: {', '.join(SCATTERS)}")
    # Flat offsets into the store in logical order: reshape (never view) copes with
    # channels-last indices.
    arange = functools.partial(torch.arange, device=idx.device)
    if channels_last:
        flat = idx * c + arange(n).view(n, 1, 1) * (hw * c) + arange(c).view(1, c, 1)
    else:
        flat = idx + arange(n * c).view(n, c, 1) * hw
    store.view(-1).index_put_((flat.reshape(-1),), grad_fine.reshape(-1), True)
    return out


def _fine_max(x: Tensor, n_f: int, bins: str) -> tuple[Tensor, Tensor]:
    if bins == "adaptive":
        return F.adaptive_max_pool2d(x, n_f, return_indices=True)
    (wh, sh), (ww, sw) = paper_window(x.shape[-2], n_f), paper_window(x.shape[-1], n_f)
    return F.max_pool2d(x, (wh, ww), (sh, sw), return_indices=True)


class _PyramidMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, levels: tuple[int, ...], bins: str, n_f: int) -> Tensor:
        n, c = x.shape[:2]
        layout = pool_layout(x.device.type, c, x.numel() * x.element_size())
        fine, idx = _fine_max(x.contiguous(memory_format=layout), n_f, bins)
        parts, coarse_idx = [], []
        for lvl in levels:
            if lvl == n_f:
                parts.append(fine.flatten(1))
                continue
            g, gi = F.adaptive_max_pool2d(fine, lvl, return_indices=True)
            parts.append(g.flatten(1))
            coarse_idx.append(gi.reshape(n, c, -1))
        ctx.save_for_backward(idx.reshape(n, c, -1), *coarse_idx)
        ctx.levels, ctx.n_f, ctx.in_shape = levels, n_f, x.shape
        # The gradient comes back in the input's layout: a channels-last net's conv5
        # backward then needs no conversion (as the pool head's max_pool2d backward).
        ctx.channels_last = not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last)
        ctx.scatter = scatter_method(
            x.device.type, torch.are_deterministic_algorithms_enabled())
        return torch.cat(parts, dim=1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        idx, *coarse_idx = ctx.saved_tensors
        n, c, h, w = ctx.in_shape
        grad_fine = grad.new_zeros(n, c, ctx.n_f * ctx.n_f)
        off, k = 0, 0
        for lvl in ctx.levels:
            g = grad[:, off : off + c * lvl * lvl].reshape(n, c, lvl * lvl)
            off += c * lvl * lvl
            if lvl == ctx.n_f:
                grad_fine += g
            else:
                grad_fine.scatter_add_(2, coarse_idx[k], g)
                k += 1
        grad_x = scatter_to_map(grad_fine, idx, h * w, ctx.scatter, ctx.channels_last)
        return grad_x.view(n, c, h, w), None, None, None


def pyramid_max(x: Tensor, levels: tuple[int, ...], bins: str, n_f: int) -> Tensor:
    """Max SPP vector of ``x`` via the finest level ``n_f`` (from :func:`plan_pyramid`); the
    backward scatter is :func:`scatter_method`'s choice for the device."""
    return _PyramidMax.apply(x, levels, bins, n_f)
