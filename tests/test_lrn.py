"""Cross-channel LRN as a banded 1×1 convolution against torch's nn.LocalResponseNorm."""

from __future__ import annotations

import pytest
import torch

from spp_lab.layers.lrn import LocalResponseNorm2d, lrn_band


@pytest.mark.parametrize("size", [5, 4, 1, 7])
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided"])
def test_lrn_equals_torch_forward_and_backward(size, layout):
    g = torch.Generator().manual_seed(size)
    base = torch.randn(3, 11, 6, 5, generator=g, dtype=torch.double) * 30  # α·Σa² matters
    x = {"contiguous": base, "channels_last": base.contiguous(memory_format=torch.channels_last),
         "strided": torch.stack([base, base], 2).flatten(1, 2)[:, ::2]}[layout]
    ours = LocalResponseNorm2d(11, size, alpha=1e-2, beta=0.75, k=2.0).double()
    ref = torch.nn.LocalResponseNorm(size, alpha=1e-2, beta=0.75, k=2.0)
    x1, x2 = x.clone().requires_grad_(), base.clone().requires_grad_()
    y1, y2 = ours(x1), ref(x2)
    torch.testing.assert_close(y1, y2, rtol=1e-12, atol=1e-12)
    assert (y1 - x1).abs().max() > 1e-3  # the normalisation is not a no-op at this scale
    w = torch.randn(y1.shape, generator=g, dtype=torch.double)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)
    if layout == "channels_last":
        assert y1.is_contiguous(memory_format=torch.channels_last)


def test_band_holds_the_window_and_checkpoints_do_not():
    band = lrn_band(6, 5)[:, :, 0, 0]
    # Row c sums channels c-2 .. c+2 (torch pads 2 before and 2 after for size 5).
    assert band[0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert band[3].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert lrn_band(6, 4)[2, :, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert LocalResponseNorm2d(8, 5, 1e-4, 0.75, 2.0).state_dict() == {}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lrn_in_low_precision_stays_close(dtype):
    x = torch.randn(2, 16, 7, 7) * 20
    ours = LocalResponseNorm2d(16, 5, 1e-4, 0.75, 2.0)
    ref = torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)(x)
    got = ours(x.to(dtype)).float()
    tol = 1e-6 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(got, ref, rtol=tol, atol=tol * 10)
