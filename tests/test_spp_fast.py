"""The one-pass SPP path against direct per-level pooling, torch.compile, and ONNX export."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from spp_lab.layers import spatial_pyramid_pool
from spp_lab.layers.bins import paper_valid_levels
from spp_lab.layers.spp_fast import plan_pyramid

SIZES = [(a, a) for a in range(1, 41)] + [(a, b) for a, b in itertools.product(
    (1, 3, 7, 10, 13, 24, 40), (2, 6, 9, 17, 33)) if a != b]


def direct(x, levels, pool, bins):
    """Per-level pooling of the map, the usual implementation (verified in test_spp_layer)."""
    from spp_lab.layers.spp import _pool_level

    def one(p):
        return torch.cat([_pool_level(x, n, p, bins).flatten(1) for n in levels], 1)

    if pool in ("max", "avg"):
        return one(pool)
    a, m = one("avg"), one("max")
    return 0.5 * (a + m) if pool == "avgmax" else torch.cat([a, m], 1)


@pytest.mark.parametrize("pool", ["max", "avg", "avgmax", "catavgmax"])
@pytest.mark.parametrize("bins", ["adaptive", "paper"])
def test_fast_path_equals_direct_pooling_over_sizes(pool, bins):
    g = torch.Generator().manual_seed(0)
    checked = 0
    for (h, w), levels in itertools.product(SIZES, [(6, 3, 2, 1), (4, 2, 1), (1, 2, 3)]):
        if bins == "paper":
            ok = set(paper_valid_levels(h)) & set(paper_valid_levels(w))
            if not set(levels) <= ok:
                continue
        x = torch.randperm(2 * 3 * h * w, generator=g).view(2, 3, h, w).double()
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        y1, y2 = spatial_pyramid_pool(x1, levels, pool, bins), direct(x2, levels, pool, bins)
        if pool == "max":
            assert torch.equal(y1, y2), (h, w, levels)
        torch.testing.assert_close(y1, y2, rtol=1e-12, atol=1e-12)
        wgt = torch.randn(y1.shape, generator=g, dtype=torch.double)
        (y1 * wgt).sum().backward()
        (y2 * wgt).sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-12, atol=1e-12)
        checked += 1
    assert checked >= (40 if bins == "paper" else 200)


def test_fast_path_is_taken_where_exact():
    assert plan_pyramid(13, 13, (6, 3, 2, 1), "adaptive", "max") == 6  # the paper's conv5
    assert plan_pyramid(10, 10, (6, 3, 2, 1), "adaptive", "max") == 6
    assert plan_pyramid(24, 24, (6, 3, 2, 1), "adaptive", "avg") == 6
    assert plan_pyramid(13, 13, (6, 3, 2, 1), "adaptive", "avg") is None  # overlapping bins
    assert plan_pyramid(13, 13, (6, 3, 2, 1), "paper", "max") == 6


def test_ties_send_the_gradient_to_one_maximum_per_bin():
    x = torch.zeros(1, 2, 13, 13, requires_grad=True)  # all tied, as after a ReLU
    spatial_pyramid_pool(x, (6, 3, 2, 1)).sum().backward()
    assert x.grad.sum().item() == 2 * 50  # one unit per bin and channel


def test_compiles_without_graph_breaks_across_sizes():
    from spp_lab.layers import SpatialPyramidPool2d

    torch._dynamo.reset()
    layer = SpatialPyramidPool2d((6, 3, 2, 1))
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    for size in (13, 10, 13):  # multi-size training changes the map size
        x = torch.randn(2, 4, size, size, requires_grad=True)
        y = compiled(x)
        y.sum().backward()
        x2 = x.detach().clone().requires_grad_()
        layer(x2).sum().backward()
        assert torch.equal(y, layer(x2)) and torch.allclose(x.grad, x2.grad)


def test_deterministic_mode_gives_identical_gradients():
    torch.use_deterministic_algorithms(True)
    try:
        x = torch.randn(4, 8, 13, 13)
        grads = []
        for _ in range(2):
            xi = x.clone().requires_grad_()
            F.relu(spatial_pyramid_pool(xi, (6, 3, 2, 1))).sum().backward()
            grads.append(xi.grad)
        assert torch.equal(*grads)
    finally:
        torch.use_deterministic_algorithms(False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_deterministic_backward():
    torch.use_deterministic_algorithms(True)
    try:
        x = torch.randn(8, 32, 13, 13, device="cuda")
        grads = []
        for _ in range(2):
            xi = x.clone().requires_grad_()
            spatial_pyramid_pool(xi, (6, 3, 2, 1)).sum().backward()
            grads.append(xi.grad)
        assert torch.equal(*grads)
    finally:
        torch.use_deterministic_algorithms(False)


def test_onnx_export_where_possible_and_a_clear_error_elsewhere(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from spp_lab.export import export_onnx, exportable_sizes
    from spp_lab.models import get_model

    torch.manual_seed(0)
    model = get_model("zf5", num_classes=5, width=0.125, stem="small", fc_dim=64,
                      levels=(4, 2, 1), train_size=64).eval()
    good = exportable_sizes(model, 64)
    assert good, "some input size near 64 px must export"
    path = export_onnx(model, good[0], tmp_path / "m.onnx")
    x = torch.randn(1, 3, good[0], good[0])
    got = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(got), model(x).detach(), rtol=1e-4, atol=1e-4)
    bad = next(s for s in range(48, 80) if s not in good)
    with pytest.raises(ValueError, match=r"needs a multiple of .* Input sizes near"):
        export_onnx(model, bad, tmp_path / "bad.onnx")
