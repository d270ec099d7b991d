"""Backbones × heads: shapes, finiteness, gradients, and the paper's conv5 map sizes."""

from __future__ import annotations

import pytest
import torch

from spp_lab.config import ARCHS
from spp_lab.models import get_model, list_models
from spp_lab.models.net import conv_map_size

PAPER = {"zf5": 13, "convnet5": 13, "overfeat5": 18, "overfeat7": 18}


def test_registry_matches_config_and_lists_names_on_error():
    assert set(list_models()) == set(ARCHS)
    with pytest.raises(ValueError, match="valid models: convnet5, overfeat5"):
        get_model("zf6", num_classes=3)


@pytest.mark.parametrize("arch,size", PAPER.items())
def test_paper_conv5_map_at_224(arch, size):
    net = get_model(arch, num_classes=10, width=0.125, train_size=224)
    assert net.map_size == (size, size)


@pytest.mark.parametrize("arch", list_models())
@pytest.mark.parametrize("head", ["spp", "pool", "global"])
def test_every_model_and_head_trains_a_step(arch, head):
    torch.manual_seed(0)
    small = dict(width=0.125) if arch in PAPER else {}
    net = get_model(arch, num_classes=7, stem="small", fc_dim=64, head=head, train_size=32,
                    pool5_bins=2,
                    **small)
    x = torch.randn(2, 3, 32, 32)
    out = net(x)
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads[:2])  # gradient reaches conv1
    if head != "pool":  # spp and global take any input size
        assert net(torch.randn(1, 3, 40, 28)).shape == (1, 7)


def test_pool_head_is_fixed_size_with_a_clear_error():
    net = get_model("zf5", num_classes=5, width=0.125, head="pool", train_size=224)
    assert net.head.kernel == (3, 3) and net.head.stride == (2, 2)  # the paper's pool5
    with torch.no_grad():
        assert net(torch.randn(1, 3, 224, 224)).shape == (1, 5)
        with pytest.raises(ValueError, match="only takes its training size"):
            net(torch.randn(1, 3, 180, 180))


def test_width_scales_channels_and_fc():
    a = get_model("zf5", num_classes=10, width=0.25, train_size=224)
    b = get_model("zf5", num_classes=10, width=0.5, train_size=224)
    assert a.classifier.in_features * 2 == b.classifier.in_features == 2048
    assert conv_map_size(a.features, 64) == conv_map_size(b.features, 64)


def test_torchvision_nets_refuse_width():
    with pytest.raises(ValueError, match="does not scale by width"):
        get_model("resnet18", num_classes=3, width=0.5)
