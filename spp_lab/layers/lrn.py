"""Cross-channel local response normalisation (Krizhevsky et al. 2012), as in the SPP-net
paper's ZF-5 and Convnet*-5 (Table 1: size 5, α = 1e-4, β = 0.75, k = 2).

    b_c = a_c / (k + (α / n) · Σ_{c'} a_{c'}²) ^ β,   c' ∈ [c − ⌊n/2⌋, c + ⌈n/2⌉ − 1]

with zero padding at the channel ends: the numbers of ``torch.nn.LocalResponseNorm``.
Output shape and memory layout = the input's.

The window sum over channels is a 1×1 convolution with a fixed banded ``C×C`` 0/1 weight
(1 inside each channel's window). torch's own LRN pools the squares with
``avg_pool3d`` over a ``(N, 1, C, H, W)`` view, which is slow on a channels-last map (ZF-5
trained at 0.31× the speed of its batch-norm variant on an H200); a 1×1 convolution is one
matrix product in either layout, on tensor cores where there are some. Measured on a CPU in
``benchmarks/bench_train.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def lrn_band(channels: int, size: int) -> Tensor:
    """The ``(C, C, 1, 1)`` 0/1 weight that sums ``a²`` over each channel's window."""
    c = torch.arange(channels)
    offset = c[None, :] - c[:, None]  # c' - c
    inside = (offset >= -(size // 2)) & (offset <= (size - 1) // 2)
    return inside.float().view(channels, channels, 1, 1)


def local_response_norm(x: Tensor, band: Tensor, size: int, alpha: float, beta: float,
                        k: float) -> Tensor:
    """LRN of ``x`` (N, C, H, W) with the window weight from :func:`lrn_band`."""
    band = band.to(dtype=x.dtype)  # 0/1: exact in every dtype
    if x.is_contiguous(memory_format=torch.channels_last):
        band = band.contiguous(memory_format=torch.channels_last)
    return x / (F.conv2d(x * x, band) * (alpha / size) + k).pow(beta)


class LocalResponseNorm2d(nn.Module):
    """Module form of :func:`local_response_norm`; ``nn.LocalResponseNorm``'s arguments plus
    the channel count (for the banded weight, a buffer that checkpoints do not store)."""

    def __init__(self, channels: int, size: int, alpha: float, beta: float, k: float) -> None:
        super().__init__()
        self.channels, self.size, self.alpha, self.beta, self.k = channels, size, alpha, beta, k
        self.register_buffer("band", lrn_band(channels, size), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return local_response_norm(x, self.band, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return (f"{self.channels}, size={self.size}, alpha={self.alpha}, beta={self.beta}, "
                f"k={self.k}")
