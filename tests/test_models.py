"""Backbones × heads: shapes, finiteness, gradients, the paper's conv5 map sizes, and the
registry's torch-free geometry against the real trunks."""

from __future__ import annotations

import pytest
import torch

from spp_lab.config import ModelConfig, build_config
from spp_lab.errors import UserError
from spp_lab.models import arch_spec, build_net, get_model, head_spec, list_heads, list_models
from spp_lab.models.net import conv_map_size

PAPER = {"zf5": 13, "convnet5": 13, "overfeat5": 18, "overfeat7": 18}
TV = {"resnet18": {}, "vgg11_bn": {}}


def net(arch: str, **kw):
    small = dict(width=0.125, fc_dim=64) if arch in PAPER else {}
    stem = {"stem": "small"} if "stem" in arch_spec(arch).options else {}
    return build_net(ModelConfig(arch=arch, **{**small, **stem, **kw}), num_classes=7,
                     image_size=kw.pop("image_size", 32) if "image_size" in kw else 32)


def test_registry_matches_config_and_lists_names_on_error():
    from spp_lab.schema import field_choices

    assert field_choices(ModelConfig.model_fields["arch"]) == list_models()
    with pytest.raises(ValueError, match="model.arch: unknown model 'zf6'; close: zf5. "
                       "Models: zf5, convnet5, overfeat5, overfeat7, resnet18, vgg11_bn"):
        get_model("zf6", num_classes=3)


@pytest.mark.parametrize("arch,size", PAPER.items())
def test_paper_conv5_map_at_224(arch, size):
    model = build_net(ModelConfig(arch=arch, width=0.125, stem="paper"), num_classes=10,
                      image_size=224)
    assert model.map_size == (size, size)
    assert arch_spec(arch).map_size("paper", 224) == size


@pytest.mark.parametrize("arch", list_models())
@pytest.mark.parametrize("head", list_heads())  # a registered plug-in's too
def test_every_model_and_head_trains_a_step(arch, head):
    torch.manual_seed(0)
    model = net(arch, head=head, pool5_bins=2)
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads[:2])  # gradient reaches conv1
    if not head_spec(head).fixed_size:  # spp and global take any input size
        assert model(torch.randn(1, 3, 40, 28)).shape == (1, 7)


@pytest.mark.parametrize("arch", list_models())
def test_geometry_without_torch_equals_the_trunk(arch):
    """The registry's map_size (used before any job runs) against the real conv trunk, for
    every stem it takes, over sizes where the trunk works and where it fails."""
    spec = arch_spec(arch)
    stems = ("paper", "small") if "stem" in spec.options else (
        ModelConfig.model_fields["stem"].default,)  # it reads no stem
    for stem in stems:
        trunk = build_net(ModelConfig(arch=arch, stem=stem, **(
            {"width": 0.125} if arch in PAPER else {})), num_classes=3, image_size=64).features
        for size in list(range(1, 70, 3)) + [223, 224, 225]:
            try:
                want = conv_map_size(trunk, size)[0]
            except RuntimeError:
                want = None
            assert spec.map_size(stem, size) == want, (arch, stem, size)


def test_pool_head_is_fixed_size_with_a_clear_error():
    model = build_net(ModelConfig(width=0.125, stem="paper", head="pool", pool5_bins=6),
                      num_classes=5, image_size=224)
    assert model.head.kernel == (3, 3) and model.head.stride == (2, 2)  # the paper's pool5
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 5)
        with pytest.raises(ValueError, match="only takes its training size"):
            model(torch.randn(1, 3, 180, 180))


def test_width_scales_channels_and_fc():
    a = build_net(ModelConfig(width=0.25, fc_dim=4096), num_classes=10, image_size=224)
    b = build_net(ModelConfig(width=0.5, fc_dim=4096), num_classes=10, image_size=224)
    assert a.classifier.in_features * 2 == b.classifier.in_features == 2048
    assert conv_map_size(a.features, 64) == conv_map_size(b.features, 64)


@pytest.mark.parametrize("arch,key,value,uses", [
    ("resnet18", "width", 0.5, "stem"), ("resnet18", "fc_dim", 1024, "stem"),
    ("resnet18", "dropout", 0.1, "stem"), ("vgg11_bn", "stem", "paper", "dropout, fc_dim"),
])
def test_switches_an_architecture_does_not_use_are_refused(arch, key, value, uses):
    with pytest.raises(UserError, match=f"model.{key}: {arch} does not use {key} "
                       rf"\(got {value!r}\).*uses: {uses}"):
        build_config({"model": {"arch": arch, key: value}})
    build_config({"model": {"arch": arch, "batchnorm": True}})  # built in: accepted


def test_vgg_honours_fc_dim_and_dropout():
    model = build_net(ModelConfig(arch="vgg11_bn", fc_dim=32, dropout=0.25), num_classes=4,
                      image_size=32)
    assert model.classifier.in_features == 32
    assert [m.p for m in model.fc if isinstance(m, torch.nn.Dropout)] == [0.25, 0.25]
