"""The SPP layer against an independent reference written with explicit slicing loops."""

from __future__ import annotations

import math

import pytest
import torch

from spp_lab.layers import SpatialPyramidPool2d, spatial_pyramid_pool, spp_output_width
from spp_lab.layers.bins import adaptive_edges, paper_valid_levels, paper_window


def ref_edges(a: int, n: int, bins: str) -> list[tuple[int, int]]:
    if bins == "adaptive":  # Appendix A, written with math.floor/ceil
        return [(math.floor(i * a / n), math.ceil((i + 1) * a / n)) for i in range(n)]
    win, stride = math.ceil(a / n), math.floor(a / n)
    return [(i * stride, i * stride + win) for i in range(n)]


def reference_spp(x: torch.Tensor, levels, pool: str, bins: str) -> torch.Tensor:
    """Explicit loops over levels, channels and bins; the documented output order."""
    n_, c_, h, w = x.shape

    def one(kind: str) -> list[torch.Tensor]:
        cols = []
        for n in levels:
            rows, cs = ref_edges(h, n, bins), ref_edges(w, n, bins)
            for c in range(c_):
                for r0, r1 in rows:
                    for c0, c1 in cs:
                        patch = x[:, c, r0:r1, c0:c1].reshape(n_, -1)
                        cols.append(patch.amax(1) if kind == "max" else patch.mean(1))
        return cols

    if pool in ("max", "avg"):
        return torch.stack(one(pool), 1)
    avg, mx = torch.stack(one("avg"), 1), torch.stack(one("max"), 1)
    return 0.5 * (avg + mx) if pool == "avgmax" else torch.cat([avg, mx], 1)


def check_against_reference(shape, levels, pool, bins, seed=0):
    g = torch.Generator().manual_seed(seed)
    # Distinct values: max pooling's gradient is then unique (no ties).
    x = torch.randperm(math.prod(shape), generator=g).view(shape).double() / 7.0
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = spatial_pyramid_pool(x1, levels, pool, bins)
    ref = reference_spp(x2, levels, pool, bins)
    assert out.shape == (shape[0], spp_output_width(shape[1], levels, pool))
    if pool == "max":
        assert torch.equal(out, ref)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    weight = torch.randn(out.shape, generator=g, dtype=torch.double)
    (out * weight).sum().backward()
    (ref * weight).sum().backward()
    if pool == "max":  # same argmax elements; sums of several levels may round differently
        assert torch.equal(x1.grad != 0, x2.grad != 0)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pool", ["max", "avg", "avgmax", "catavgmax"])
@pytest.mark.parametrize("shape,levels", [
    ((2, 3, 13, 13), (6, 3, 2, 1)), ((1, 2, 10, 7), (4, 2, 1)), ((3, 2, 1, 1), (6, 3, 2, 1)),
    ((2, 2, 3, 5), (6, 3, 2, 1)), ((1, 4, 24, 24), (6, 3, 2, 1)), ((2, 1, 17, 9), (1, 2, 3)),
    ((1, 3, 40, 33), (5, 4, 2)),
])
def test_adaptive_matches_reference(shape, levels, pool):
    check_against_reference(shape, levels, pool, "adaptive")


@pytest.mark.parametrize("pool", ["max", "avg", "catavgmax"])
def test_random_shapes_match_reference(pool):
    g = torch.Generator().manual_seed(1)
    for trial in range(25):
        h, w = (int(v) for v in torch.randint(1, 30, (2,), generator=g))
        n = int(torch.randint(1, 4, (1,), generator=g))
        c = int(torch.randint(1, 4, (1,), generator=g))
        levels = sorted({int(v) for v in torch.randint(1, 8, (3,), generator=g)}, reverse=True)
        check_against_reference((n, c, h, w), levels, pool, "adaptive", seed=trial)


@pytest.mark.parametrize("pool", ["max", "avg", "avgmax", "catavgmax"])
@pytest.mark.parametrize("shape,levels", [
    ((2, 3, 13, 13), (6, 3, 2, 1)), ((1, 2, 12, 12), (6, 4, 3, 2, 1)), ((1, 2, 13, 12), (3, 1)),
])
def test_paper_bins_match_reference(shape, levels, pool):
    check_against_reference(shape, levels, pool, "paper")


def test_paper_bins_known_windows():
    assert paper_window(13, 6) == (3, 2)  # the paper's 13×13 conv5 → 6×6: window 3, stride 2
    assert paper_window(13, 3) == (5, 4)
    assert paper_window(10, 6) is None  # window 2, stride 1 gives 9 bins
    assert paper_window(3, 6) is None  # stride 0
    assert 6 not in paper_valid_levels(10) and 1 in paper_valid_levels(10)


@pytest.mark.parametrize("h,w,levels,bad", [(10, 10, (6, 3, 2, 1), "a=10 into n=6"),
                                             (3, 8, (4, 1), "a=3 into n=4"),
                                             (13, 10, (6, 1), "a=10 into n=6")])
def test_paper_bins_refuse_impossible_sizes(h, w, levels, bad):
    with pytest.raises(ValueError, match=bad) as err:
        spatial_pyramid_pool(torch.randn(1, 2, h, w), levels, "max", "paper")
    assert "levels that work" in str(err.value)


def test_adaptive_edges_cover_axis_and_handle_small_maps():
    for a in range(1, 30):
        for n in range(1, 9):
            e = adaptive_edges(a, n)
            assert e[0][0] == 0 and e[-1][1] == a and all(s < t for s, t in e)


def test_module_width_repr_and_bad_arguments():
    layer = SpatialPyramidPool2d((4, 2, 1), "catavgmax", "adaptive")
    assert layer.out_width(8) == 8 * 21 * 2 == layer(torch.randn(2, 8, 5, 9)).shape[1]
    assert "catavgmax" in repr(layer)
    with pytest.raises(ValueError, match="allowed: max, avg"):
        SpatialPyramidPool2d((1,), "median", "adaptive")
    with pytest.raises(ValueError, match="positive"):
        spatial_pyramid_pool(torch.randn(1, 1, 4, 4), (2, 0), "max", "adaptive")


def test_paper_bins_edges_and_the_message_where_they_fail():
    from spp_lab.layers.bins import check_paper_bins, paper_edges

    assert paper_edges(13, 6) == [(0, 3), (2, 5), (4, 7), (6, 9), (8, 11), (10, 13)]
    with pytest.raises(ValueError) as err:
        check_paper_bins(3, 3, [4])
    assert str(err.value) == (
        "bins='paper' cannot pool a map of height a=3 into n=4 bins (window ceil(a/n)=1, "
        "stride floor(a/n)=0 gives stride 0); levels that work for a=3: [1, 2, 3]; use "
        "bins='adaptive' for any size")
    with pytest.raises(ValueError) as err:
        check_paper_bins(10, 7, [5])  # the height works, the width does not
    assert str(err.value) == (
        "bins='paper' cannot pool a map of width a=7 into n=5 bins (window ceil(a/n)=2, "
        "stride floor(a/n)=1 gives 6 bins); levels that work for a=7: [1, 2, 3, 6, 7]; use "
        "bins='adaptive' for any size")


def test_paper_and_fixed_windows_against_a_counting_reference():
    from spp_lab.layers.bins import fixed_window

    def bins_of(a, win, stride):  # windows [i·stride, i·stride + win) that fit in a
        return sum(1 for i in range(a) if i * stride + win <= a)

    for a in range(1, 41):
        for k in range(1, 9):
            win, stride = -(-a // k), a // k
            paper_ok = stride >= 1 and bins_of(a, win, stride) == k
            assert paper_window(a, k) == ((win, stride) if paper_ok else None), (a, k)
            # pool5 of the no-SPP head: the §2.3 window where it works, else the largest
            # stride whose k windows still cover every pixel (stride ≤ window).
            covering = [s for s in range(1, a + 1) if a - (k - 1) * s >= s]
            want = (win, stride) if paper_ok else (
                (a - (k - 1) * max(covering), max(covering)) if covering else None)
            assert fixed_window(a, k) == want, (a, k)
    assert paper_valid_levels(8) == [1, 2, 3, 4, 7, 8]


def test_paper_bins_are_checked_on_each_side_and_the_pool_layout_policy():
    from spp_lab.layers.spp_fast import _CL_MAX_BYTES, pool_layout

    with pytest.raises(ValueError, match="cannot pool a map of width a=7 into n=5"):
        spatial_pyramid_pool(torch.randn(1, 2, 10, 7), [5], "max", "paper")
    with pytest.raises(ValueError, match="cannot pool a map of height a=3 into n=4"):
        spatial_pyramid_pool(torch.randn(1, 2, 3, 8), [4], "max", "paper")
    # CPU kernels vectorise over channels: channels-last from 2 channels, below 32 MiB.
    assert pool_layout("cpu", 2, 100) == torch.channels_last
    assert pool_layout("cpu", 1, 100) == torch.contiguous_format
    assert pool_layout("cpu", 4, _CL_MAX_BYTES - 1) == torch.channels_last
    assert pool_layout("cpu", 4, _CL_MAX_BYTES) == torch.contiguous_format
    assert pool_layout("cuda", 64, 100) == torch.contiguous_format
