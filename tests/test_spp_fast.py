"""The one-pass SPP path against direct per-level pooling, torch.compile, and ONNX export."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from spp_lab.layers import spatial_pyramid_pool
from spp_lab.layers.bins import paper_valid_levels
from spp_lab.layers.spp_fast import (
    SCATTERS,
    plan_pyramid,
    pool_layout,
    pyramid_max,
    scatter_method,
    scatter_to_map,
)

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
    spatial_pyramid_pool(x, (6, 3, 2, 1), "max", "adaptive").sum().backward()
    assert x.grad.sum().item() == 2 * 50  # one unit per bin and channel


def test_compiles_without_graph_breaks_across_sizes():
    from spp_lab.layers import SpatialPyramidPool2d

    torch._dynamo.reset()
    layer = SpatialPyramidPool2d((6, 3, 2, 1), "max", "adaptive")
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
            F.relu(spatial_pyramid_pool(xi, (6, 3, 2, 1), "max", "adaptive")).sum().backward()
            grads.append(xi.grad)
        assert torch.equal(*grads)
    finally:
        torch.use_deterministic_algorithms(False)


def layouts(x):
    """The same values in the memory layouts a GPU job hands the layer: (name, leaf, view)
    where ``view`` (the layer's input) is a function of the leaf that equals ``x``."""
    def leaf(t):
        return t.detach().clone(memory_format=torch.preserve_format).requires_grad_()

    cl = leaf(x.contiguous(memory_format=torch.channels_last))
    wide = leaf(torch.stack([x, x], dim=2).flatten(1, 2))  # every other channel is x
    tr = leaf(x.transpose(2, 3).contiguous())
    yield "contiguous", (c := leaf(x)), lambda: c
    yield "channels_last", cl, lambda: cl
    yield "strided view", wide, lambda: wide[:, ::2]
    yield "transposed", tr, lambda: tr.transpose(2, 3)


@pytest.mark.parametrize("bins,levels,size", [("adaptive", (6, 3, 2, 1), 13),
                                              ("adaptive", (4, 2, 1), 5),
                                              ("paper", (6, 3, 2, 1), 13)])
def test_the_backward_handles_any_strides(bins, levels, size):
    """Contiguous, channels-last and strided maps, against per-level pooling. The forward
    hands the scatter a contiguous or channels-last map only; both scatters are checked on
    both layouts below (test_scatter_to_map_takes_channels_last_argmax_indices)."""
    g = torch.Generator().manual_seed(0)
    base = torch.randperm(2 * 4 * size * size, generator=g).view(2, 4, size, size).double()
    n_f = plan_pyramid(size, size, levels, bins, "max")
    assert n_f == max(levels)
    for name, leaf, view in layouts(base):
        x1, x2 = view(), base.clone().requires_grad_()
        assert torch.equal(x1, base), name
        strides = []  # of the gradient as the layer hands it back (leaf.grad is restrided)
        x1.register_hook(lambda g, out=strides: out.append(g.stride()))
        y1 = pyramid_max(x1, levels, bins, n_f)
        y2 = direct(x2, levels, "max", bins)
        assert torch.equal(y1, y2), name
        wgt = torch.randn(y1.shape, generator=g, dtype=torch.double)
        (y1 * wgt).sum().backward()
        (y2 * wgt).sum().backward()
        grad = leaf.grad if leaf.shape == base.shape else leaf.grad[:, ::2]
        grad = grad.transpose(2, 3) if name == "transposed" else grad
        torch.testing.assert_close(grad, x2.grad, rtol=1e-12, atol=1e-12, msg=name)
        if name in ("contiguous", "channels_last"):  # the gradient in the input's layout
            assert strides == [leaf.stride()], name


def test_scatter_to_map_takes_channels_last_argmax_indices():
    """The GPU crash of e7a6826: indices of a channels-last map are not viewable as 1-D.
    Three images: with two, a wrong sign of the batch offset wraps onto the right place."""
    x = torch.randn(3, 3, 13, 13).contiguous(memory_format=torch.channels_last)
    fine, idx = F.adaptive_max_pool2d(x, 4, return_indices=True)
    assert not idx.is_contiguous()
    grad = torch.randn(3, 3, 16)
    ref = torch.zeros(3, 3, 169).scatter_add_(2, idx.reshape(3, 3, -1).contiguous(), grad)
    for method in SCATTERS:
        for cl in (False, True):
            out = scatter_to_map(grad, idx.reshape(3, 3, -1), 169, method, channels_last=cl)
            torch.testing.assert_close(out, ref)
            assert out.view(3, 3, 13, 13).stride() == (x.stride() if cl else (507, 169, 13, 1))
        default = scatter_to_map(grad, idx.reshape(3, 3, -1), 169, method)  # NCHW unless asked
        assert default.view(3, 3, 13, 13).stride() == (507, 169, 13, 1)
    with pytest.raises(ValueError, match="allowed: scatter_add, index_put"):
        scatter_to_map(grad, idx.reshape(3, 3, -1), 169, "atomic")


def test_device_choices_are_the_documented_ones():
    assert scatter_method("cuda", deterministic=True) == "index_put"
    assert scatter_method("cuda", deterministic=False) == "scatter_add"
    assert scatter_method("cpu", deterministic=True) == "scatter_add"
    assert pool_layout("cpu", 256, 1 << 20) == torch.channels_last
    assert pool_layout("cpu", 256, 64 << 20) == torch.contiguous_format  # large: in place
    assert pool_layout("cpu", 1, 1 << 10) == torch.contiguous_format
    assert pool_layout("cuda", 256, 1 << 20) == torch.contiguous_format


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (make gpu-check); "
                    "the same code runs on the CPU in the tests above")
@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided view"])
def test_cuda_deterministic_backward(layout):
    torch.use_deterministic_algorithms(True)
    try:
        x = torch.randn(8, 32, 13, 13, device="cuda")
        grads = []
        for _ in range(2):
            name, leaf, view = next(t for t in layouts(x) if t[0] == layout)
            spatial_pyramid_pool(view(), (6, 3, 2, 1), "max", "adaptive").sum().backward()
            grads.append(leaf.grad if leaf.shape == x.shape else leaf.grad[:, ::2])
        assert torch.equal(*grads)
        ref = x.detach().cpu().double().requires_grad_()
        direct(ref, (6, 3, 2, 1), "max", "adaptive").sum().backward()
        torch.testing.assert_close(grads[0].cpu().double(), ref.grad)
    finally:
        torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("pool", ["max", "avg", "avgmax", "catavgmax"])
@pytest.mark.parametrize("bins,size,levels", [("adaptive", 12, (6, 3, 2, 1)),
                                              ("adaptive", 8, (4, 2, 1)),
                                              ("paper", 13, (6, 3, 2, 1))])
def test_fixed_window_export_head_equals_the_layer(pool, bins, size, levels):
    from spp_lab.export import FixedWindowPyramid
    from spp_lab.layers import SpatialPyramidPool2d

    layer = SpatialPyramidPool2d(levels, pool, bins)
    x = torch.randn(2, 3, size, size, dtype=torch.double)
    torch.testing.assert_close(FixedWindowPyramid(layer, (size, size))(x), layer(x))


def test_onnx_export_where_possible_and_a_clear_error_elsewhere(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the onnx extra")
    import onnx

    from spp_lab.config import ModelConfig
    from spp_lab.export import adaptive_window, export_onnx, exportable_sizes
    from spp_lab.models import build_net
    from spp_lab.module import _MEAN, _STD

    # Adaptive bins that are a fixed window: 3 into 2 is window 2, stride 1; 5 into 3 is not
    # (bins of 2, 3 and 2 pixels).
    assert (adaptive_window(3, 2), adaptive_window(6, 3), adaptive_window(5, 3)) == (
        (2, 1), (2, 2), None)
    torch.manual_seed(0)
    model = build_net(ModelConfig(width=0.125, fc_dim=64), num_classes=5, image_size=32).eval()
    assert exportable_sizes(model, 32)[0] == 32  # the defaults export at the training size
    try:
        path = export_onnx(model, 32, tmp_path / "m.onnx", metadata={"classes": '["a"]'})
    except RuntimeError as err:  # the exporter of this torch release cannot lower an op
        assert f"under torch {torch.__version__}" in str(err)
        pytest.skip(str(err))
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # one file, weights inside
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["image_size"] == "32" and props["classes"] == '["a"]'
    assert "pixels 0-255" in props["input"]
    pixels = torch.randint(0, 256, (1, 3, 32, 32)).float()  # what a user has: RGB pixels
    got = ort.InferenceSession(str(path)).run(None, {"image": pixels.numpy()})[0]
    want = model((pixels - _MEAN) / _STD).detach()
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-4)
    big = build_net(ModelConfig(width=0.125, stem="small", fc_dim=64, levels=[4, 2, 1]),
                    num_classes=5, image_size=64).eval()
    good = exportable_sizes(big, 61)
    assert good == sorted(good, key=lambda s: (abs(s - 61), s))  # nearest first
    bad = next(s for s in range(48, 80) if s not in good)
    with pytest.raises(ValueError, match=r"is no fixed window .* Input sizes that export, "
                                         r"nearest first"):
        export_onnx(big, bad, tmp_path / "bad.onnx")


def test_when_the_fast_path_applies_against_a_set_based_reference():
    from spp_lab.layers.bins import adaptive_edges, edges
    from spp_lab.layers.spp_fast import _union_exact

    def exact(a, n_f, n_c, bins, disjoint):  # each coarse bin is the union of its fine bins
        fine, coarse = edges(a, n_f, bins), edges(a, n_c, bins)
        for (g0, g1), (c0, c1) in zip(adaptive_edges(n_f, n_c), coarse):
            cells = [set(range(s, e)) for s, e in fine[g0:g1]]
            if set().union(*cells) != set(range(c0, c1)):
                return False
            if disjoint and sum(map(len, cells)) != c1 - c0:  # avg: no pixel twice
                return False
        return True

    seen = set()
    for a in range(1, 31):
        for n_f in range(2, 8):
            for n_c in range(1, n_f):
                for bins in ("adaptive", "paper"):
                    try:
                        want = {d: exact(a, n_f, n_c, bins, d) for d in (False, True)}
                    except ValueError:  # no §2.3 bins at this size
                        continue
                    got = {d: _union_exact(a, n_f, n_c, bins, d) for d in (False, True)}
                    assert got == want, (a, n_f, n_c, bins)
                    seen.add(tuple(want.values()))
    assert seen == {(False, False), (True, False), (True, True)}  # every case occurs


def test_the_deterministic_scatter_keeps_every_tensor_on_the_input_device():
    # On CUDA the flat offsets must be made on the GPU; the meta device stands in for it
    # here (a tensor made on the CPU by mistake cannot be added to a meta tensor).
    from spp_lab.layers.spp_fast import scatter_to_map

    grad = torch.randn(2, 3, 4, device="meta")
    idx = torch.zeros(2, 3, 4, dtype=torch.long, device="meta")
    for cl in (False, True):
        out = scatter_to_map(grad, idx, 9, "index_put", channels_last=cl)
        assert (out.device.type, tuple(out.shape)) == ("meta", (2, 3, 9))
