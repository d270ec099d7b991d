"""Pretrained backbones, offline: weights placed where torchvision's and timm's own loaders
look (the torch hub and Hugging Face caches), a missing file named before any job starts,
a local weights file, the normalisation the weights expect, and the fine-tuning switches."""

from __future__ import annotations

import pickle

import pytest
import torch

from spp_lab.config import ModelConfig, build_config
from spp_lab.errors import UserError
from spp_lab.models import get_model
from tests.conftest import spp_lab

HEX = "0123456789abcdef" * 2 + "01234567"  # a snapshot's commit, 40 hex digits


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch hub and Hugging Face caches, and no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("SPP_LAB_OFFLINE", "1")
    return tmp_path


def _marked(state: dict) -> dict:
    """A state dict whose every float tensor is recognisable (filled with its index)."""
    return {k: (torch.full_like(v, i / 1000) if v.is_floating_point() else v)
            for i, (k, v) in enumerate(state.items())}


def test_torchvision_weights_load_from_the_torch_hub_cache(caches):
    from torchvision import models as tvm

    state = _marked(tvm.resnet18().state_dict())
    hub = caches / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(state, hub / "resnet18-f37072fd.pth")  # as torchvision names it
    net = get_model("resnet18", pretrained=True, head="spp", num_classes=10)
    assert torch.equal(net.features[0].weight, state["conv1.weight"])
    assert torch.equal(net.features[7][1].bn2.running_var, state["layer4.1.bn2.running_var"])
    assert net.classifier.out_features == 10  # a new classifier, not ImageNet's


def test_timm_weights_load_from_the_hugging_face_cache(caches):
    import timm
    from safetensors.torch import save_file

    state = _marked(timm.create_model("convnext_nano").state_dict())
    repo = caches / "hf" / "models--timm--convnext_nano.in12k_ft_in1k"
    (repo / "snapshots" / HEX).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(HEX)
    save_file(state, str(repo / "snapshots" / HEX / "model.safetensors"))
    net = get_model("timm/convnext_nano", pretrained=True, head="spp", levels=(2, 1),
                    num_classes=10)
    assert torch.equal(net.features.body.stem[0].weight, state["stem.0.weight"])
    assert net(torch.zeros(1, 3, 97, 131)).shape == (1, 10)


@pytest.mark.parametrize("arch,fetch,where", [
    ("resnet50", "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
     "torch/hub/checkpoints/resnet50-11ad3fa6.pth"),
    ("timm/resnet18d", "huggingface-cli download timm/resnet18d.ra2_in1k model.safetensors",
     "hf/models--timm--resnet18d.ra2_in1k"),
])
def test_missing_weights_stop_a_local_run_before_any_job(arch, fetch, where, caches):
    args = ["-m", f"model.arch={arch}", "model.pretrained=true", "model.head=spp,global"]
    env = {k: str(caches / v) for k, v in (("TORCH_HOME", "torch"), ("HF_HUB_CACHE", "hf"))}
    env["SPP_LAB_OFFLINE"] = "1"
    proc = spp_lab("run", *args, "--smoke", cwd=caches, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "are not in the cache and there is no network; fetch " + fetch in proc.stderr
    assert str(caches / where) in proc.stderr
    assert not (caches / "results").exists()  # no job started
    listed = spp_lab("ls", *args, cwd=caches, env=env)  # listing only warns
    assert listed.returncode == 0 and "warning" in listed.stderr and fetch in listed.stderr


def test_a_job_checks_its_weights_where_it_runs(caches):
    """On a cluster the pre-run check is the job's: it is a user error there (exit 2, not
    retried), before any training."""
    from spp_lab.runner.devices import resolve_auto
    from spp_lab.train import train_run

    cfg = resolve_auto(build_config({"model": {"arch": "resnet18", "stem": "paper",
                                               "pretrained": True}}), [])
    with pytest.raises(UserError, match="resnet18-f37072fd.pth"):
        train_run(cfg, caches / "run")


def test_pretrained_is_resolved_to_its_tag_and_checked():
    m = ModelConfig(arch="resnet18", stem="paper", pretrained=True)
    assert m.pretrained == "IMAGENET1K_V1"
    for model, why in [
        ({"arch": "zf5", "pretrained": True}, "zf5 has no published weights"),
        ({"arch": "resnet18", "pretrained": True}, "set model.stem: paper"),
        ({"arch": "resnet50", "pretrained": "IMAGENET9K"},
         "resnet50 has no weights 'IMAGENET9K'; its weights: IMAGENET1K_V1, IMAGENET1K_V2"),
        ({"arch": "resnet50", "pretrained": True, "weights": "w.pt"}, "give one source"),
    ]:
        with pytest.raises(UserError, match=why):
            build_config({"model": model})


def test_the_weights_normalisation_is_the_inputs_and_the_exports(tmp_path):
    """timm's Inception-v3 (TF weights) expects mean = std = 0.5: the module normalises with
    them, records them, and the ONNX graph does the same on raw pixels."""
    import numpy as np
    import onnxruntime as ort

    from spp_lab.export import export_onnx
    from spp_lab.models.weights import input_norm
    from spp_lab.module import SPPClassifier

    m = ModelConfig(arch="timm/inception_v3", pretrained="tf_in1k")
    assert input_norm(m) == ([0.5] * 3, [0.5] * 3)
    assert input_norm(ModelConfig()) == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    clf = SPPClassifier(m, num_classes=3, load_weights=False)
    assert clf.hparams["input_mean"] == [0.5] * 3 and clf.hparams["image_size"] == 299
    assert torch.allclose(clf.mean.flatten(), torch.full((3,), 127.5))
    net = get_model("zf5", preset="cpu", num_classes=3).eval()
    path = export_onnx(net, 64, tmp_path / "m.onnx", norm=([0.5] * 3, [0.5] * 3))
    x = torch.randint(0, 256, (1, 3, 64, 64)).float()
    got = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
    want = net((x / 255 - 0.5) / 0.5).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["mean_rgb_0_255"] == "127.5,127.5,127.5"


def test_a_local_weights_file_loads_into_the_backbone(tmp_path):
    """A run's checkpoint (its keys under net.features.) and a bare safetensors file both
    load; another architecture's file, or a pickle, is one clear error."""
    from safetensors.torch import save_file

    src = get_model("zf5", preset="cpu", num_classes=4)
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in src.state_dict().items()},
                "epoch": 3}, ckpt)
    bare = tmp_path / "trunk.safetensors"
    save_file({k: v.contiguous() for k, v in src.features.state_dict().items()}, str(bare))
    for path in (ckpt, bare):
        net = get_model("zf5", preset="cpu", num_classes=7, weights=str(path))
        for (k, a), b in zip(net.features.state_dict().items(),
                             src.features.state_dict().values()):
            assert torch.equal(a, b), k
    other = tmp_path / "o.pt"
    torch.save(get_model("overfeat5", preset="cpu", num_classes=4).state_dict(), other)
    with pytest.raises(UserError, match=r"model.weights: .*o.pt: .* has shape"):
        get_model("zf5", preset="cpu", weights=str(other))
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(ValueError("a planted object")))
    with pytest.raises(UserError, match="is not a weights file"):
        get_model("zf5", preset="cpu", weights=str(evil))
