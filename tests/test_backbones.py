"""Your own network: the paper's nets at their published size by name, torchvision's and
timm's networks with the SPP heads, cut where their final pooling begins, measured by the
network itself, and the catalog that keeps those measurements for torch-free commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spp_lab.config import ModelConfig
from spp_lab.models import arch_spec, build_net, get_model
from spp_lab.models.net import conv_map_size
from tests.conftest import ROOT, spp_lab

# (in, out, kernel) of each conv, from the paper's Table 1.
ZF5 = [(3, 96, 7), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
OVERFEAT7 = [(3, 96, 7), (96, 256, 5), (256, 512, 3)] + [(512, 512, 3)] * 4


def paper_params(convs: list[tuple[int, int, int]], bins: int, classes: int) -> int:
    """Parameters by hand: convs with biases, fc6 and fc7 of 4096, the classifier."""
    n = sum(o * i * k * k + o for i, o, k in convs)
    fc6_in = convs[-1][1] * bins
    return n + fc6_in * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * classes + classes


@pytest.mark.parametrize("arch,convs,side", [("zf5", ZF5, 13), ("overfeat7", OVERFEAT7, 18)])
def test_get_model_builds_the_published_network(arch, convs, side):
    """The paper's Table 1 with its stem, LRN, fc 4096, dropout 0.5 and the 6-3-2-1 pyramid
    (50 bins), at 224 px: a 13×13 conv5 map for ZF-5 and 18×18 for Overfeat-7."""
    net = get_model(arch, num_classes=1000)
    assert sum(p.numel() for p in net.parameters()) == paper_params(convs, 50, 1000)
    assert net.map_size == (side, side) and net.head.levels == (6, 3, 2, 1)
    kinds = [type(m).__name__ for m in net.features]
    assert kinds.count("LocalResponseNorm2d") == (2 if arch == "zf5" else 0)
    assert "BatchNorm2d" not in kinds
    assert [m.p for m in net.fc if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    pool = get_model(arch, num_classes=1000, head="pool")
    assert pool.head.kernel == ((3, 3) if arch == "zf5" else (3, 3)) and pool.head.bins == 6


def test_the_cpu_preset_is_the_run_configs_defaults():
    cpu = get_model("zf5", num_classes=10, preset="cpu")
    want = build_net(ModelConfig(), num_classes=10, image_size=64)
    assert [p.shape for p in cpu.parameters()] == [p.shape for p in want.parameters()]
    assert cpu.map_size == (7, 7)
    with pytest.raises(ValueError, match="unknown preset 'tiny'; presets: paper, cpu"):
        get_model("zf5", preset="tiny")


@pytest.mark.parametrize("arch", ["resnet50", "timm/convnext_nano"])
def test_other_libraries_networks_take_the_pyramid_at_any_size(arch):
    torch.manual_seed(0)
    net = get_model(arch, head="spp", levels=(4, 2, 1), num_classes=10).eval()
    with torch.no_grad():
        for h, w in [(224, 224), (200, 150), (97, 131)]:
            out = net(torch.randn(2, 3, h, w))
            assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert net.classifier.in_features == arch_spec(arch).builder().channels * 21


def _tv(name):
    from torchvision import models as tvm

    torch.manual_seed(0)
    return tvm.get_model(name, weights=None).eval()


def _timm(name):
    import timm

    torch.manual_seed(0)
    return timm.create_model(name, num_classes=0, global_pool="").eval()


# Where each family's final pooling begins, written out by hand from its forward().
REFERENCES = {
    "vgg11": (224, lambda m, x: m.features[:-1](x)),  # pool5 dropped, as the paper's
    "densenet121": (64, lambda m, x: F.relu(m.features(x))),  # a functional relu
    "efficientnet_b0": (64, lambda m, x: m.features(x)),
    "squeezenet1_1": (64, lambda m, x: m.features(x)),  # its classifier is a conv
    "shufflenet_v2_x0_5": (64, lambda m, x: m.conv5(m.stage4(m.stage3(m.stage2(
        m.maxpool(m.conv1(x))))))),  # pooled by a mean in forward()
    "regnet_y_400mf": (64, lambda m, x: m.trunk_output(m.stem(x))),  # not buildable on meta
    "timm/resnet18d": (64, lambda m, x: m.forward_features(x)),
    "timm/swin_tiny_patch4_window7_224": (224, lambda m, x: m.forward_features(x)
                                          .permute(0, 3, 1, 2)),  # channels last
}


@pytest.mark.parametrize("arch", sorted(REFERENCES))
def test_the_cut_is_where_the_final_pooling_begins(arch):
    from spp_lab.models import catalog

    side, reference = REFERENCES[arch]
    torch.manual_seed(0)
    features, channels = catalog.build(arch, None)
    model = _timm(arch[5:]) if arch.startswith("timm/") else _tv(arch)
    x = torch.randn(1, 3, side, side)
    with torch.no_grad():
        want = reference(model, x)
        got = features.eval()(x)
    assert got.shape == want.shape and want.shape[1] == channels
    assert torch.equal(got, want)


def test_a_network_without_a_conv_map_is_refused():
    from spp_lab.config import build_config
    from spp_lab.errors import UserError

    with pytest.raises(UserError, match="vit_b_16 has no convolutional map before its "
                       "classifier"):
        build_config({"model": {"arch": "vit_b_16"}})


def test_geometry_comes_from_the_network_itself():
    """The catalog's map sides (what the pre-run checks read) against real forward passes,
    where the network works and where it fails; its smallest side is the smallest that
    works."""
    spec = arch_spec("resnet50")
    trunk = spec.builder().features.eval()
    for side in (1, 16, 31, 32, 33, 97, 224):
        try:
            want = conv_map_size(trunk, side)[0]
        except RuntimeError:
            want = None
        assert spec.map_size("small", side) == want, side
    low = spec.min_side("small")
    assert spec.map_size("small", low) is not None and spec.map_size("small", low - 1) is None
    assert spec.input_size == 224 and spec.source == "torchvision"


def test_the_catalog_answers_later_commands_without_torch(tmp_path):
    """A fresh cache folder is filled once; then validating a config and the size checks of
    a torchvision and a timm backbone import no torch."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    code = ("import sys; from spp_lab.config import build_config; from spp_lab.checks import "
            "check_configs\nfor a in ('resnet50', 'timm/convnext_nano'):\n"
            "    c = build_config({'model': {'arch': a, 'head': 'pool'}})\n"
            "    check_configs([('', c)], 'x', data='skip')\n"
            "print(c.data.image_size, 'torch' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, cwd=ROOT, timeout=300) for _ in range(2)]
    assert [r.stdout.split() for r in runs] == [["224", "True"], ["224", "False"]], \
        runs[0].stderr[-2000:]
    files = sorted(p.name for p in (tmp_path / "spp-lab" / "backbones").iterdir())
    assert [f.split("-")[0] for f in files] == ["timm", "torchvision"]
    facts = json.loads((tmp_path / "spp-lab/backbones" / files[1]).read_text())["nets"]
    assert facts["resnet50"]["channels"] == 2048 and facts["resnet50"]["sides"]["224"] == 7


def test_a_misspelt_name_lists_close_ones():
    from spp_lab.config import build_config
    from spp_lab.errors import UserError

    with pytest.raises(UserError, match="unknown model 'timm/convnxt_nano'; close: "
                       "timm/convnext_nano"):
        build_config({"model": {"arch": "timm/convnxt_nano"}})
    with pytest.raises(UserError, match="unknown model 'resnet05'; close: resnet50"):
        build_config({"model": {"arch": "resnet05"}})


def test_backbones_sweep_from_the_command_line(tmp_path):
    """Each name works in -m: two libraries × two heads are four jobs, each at its
    network's input size (the pool head fits its window there)."""
    proc = spp_lab("run", "-m", "model.arch=resnet50,timm/convnext_nano",
                   "model.head=pool,spp", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "4 jobs · 4 to run" in proc.stdout and proc.stdout.count("would run") == 4
    proc = spp_lab("train", "--print-config", "model.arch=timm/resnet18d", cwd=tmp_path)
    assert "arch: timm/resnet18d" in proc.stdout and "image_size: 224" in proc.stdout


def test_each_architecture_gets_its_own_input_size_unless_one_is_given(tmp_path):
    """data.image_size left out: 64 for the CPU-sized nets, the weights' size for a library's
    network (299 for Inception-v3), per job of one grid; given in base, it holds for all."""
    from spp_lab.runner.expand import expand
    from spp_lab.runner.experiment import parse_experiment

    raw = {"name": "sizes", "grid": {"model.arch": ["zf5", "resnet50", "inception_v3"]},
           "conditions": {"spp": {"model.head": "spp"}}}
    sizes = {j.config.model.arch: j.config.data.image_size
             for j in expand(parse_experiment(raw, "x"))}
    assert sizes == {"zf5": 64, "resnet50": 224, "inception_v3": 299}
    given = expand(parse_experiment({**raw, "base": {"data": {"image_size": 96}}}, "x"))
    assert {j.config.data.image_size for j in given} == {96}
    cut = expand(parse_experiment({**raw, "exclude": [{"data.image_size": 224}]}, "x"))
    assert [j.config.model.arch for j in cut] == ["zf5", "inception_v3"]


def test_the_models_command_lists_names_and_says_what_each_is(tmp_path):
    """A pattern lists the registered nets and both libraries' names; --info gives each
    one's map at its input size and its weights, and a network with no conv map (a ViT
    hybrid) a line saying so, remembered, not a traceback."""
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    names = spp_lab("models", "resnet18", cwd=tmp_path, env=env).stdout.split()
    assert {"resnet18", "timm/resnet18", "timm/resnet18d"} <= set(names)
    assert all("resnet18" in n for n in names)
    for _ in range(2):  # measured, then read back from the cache
        proc = spp_lab("models", "vit_small_resnet50d_s16", "--info", cwd=tmp_path, env=env)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "not usable: gives no (C, h, w) conv map" in proc.stdout
    line = spp_lab("models", "resnet18d", "--info", cwd=tmp_path, env=env).stdout
    assert "512 channels, 224 px (7×7 map)" in line and "weights: ra2_in1k*" in line
    proc = spp_lab("models", "no_such_net", cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "no network name contains 'no_such_net'" in proc.stderr
