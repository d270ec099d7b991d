"""The fine-tuning switches, by what training does to the weights: a frozen backbone is not
changed, for the epochs asked; frozen batch norm keeps its statistics; the backbone's
learning rate is scaled; the default keeps one optimizer group, as earlier checkpoints."""

from __future__ import annotations

import pytest
import torch

from spp_lab.config import build_config
from spp_lab.runner.devices import resolve_auto

TINY = {"model": {"stem": "small", "width": 0.125, "batchnorm": True, "fc_dim": 32,
                  "levels": [2, 1]},
        "data": {"image_size": 32, "num_train": 64, "num_val": 16, "batch_size": 32},
        "train": {"epochs": 1, "lr": 0.01, "threads": 1}}


def _cfg(**train):
    tree = {**TINY, "train": {**TINY["train"], **train}}
    return resolve_auto(build_config(tree), [])


def _initial(cfg) -> dict:
    """The weights train_run starts from: the same seeding and data setup, then the net."""
    import pytorch_lightning as pl

    from spp_lab.data import SPPDataModule
    from spp_lab.module import SPPClassifier

    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    dm = SPPDataModule(cfg.data, train_seed=cfg.train.seed)
    model = SPPClassifier(cfg.model, cfg.train, num_classes=dm.num_classes,
                          image_size=cfg.data.image_size)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _trained(cfg, out) -> dict:
    from spp_lab.train import train_run

    train_run(cfg, out)
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def _same(a: dict, b: dict, part: str) -> bool:
    keys = [k for k in a if k.startswith(part) and a[k].is_floating_point()]
    assert keys
    return all(torch.equal(a[k], b[k]) for k in keys)


@pytest.mark.parametrize("freeze,epochs,backbone_changes", [
    ("all", 2, False), (1, 1, False), (1, 2, True), (0, 1, True)])
def test_a_frozen_backbone_is_not_trained(freeze, epochs, backbone_changes, tmp_path):
    cfg = _cfg(freeze_backbone=freeze, epochs=epochs)
    start, end = _initial(cfg), _trained(cfg, tmp_path / "run")
    assert _same(start, end, "net.features.") is not backbone_changes
    assert not _same(start, end, "net.classifier.")  # the head always trains


def test_frozen_batch_norm_keeps_its_statistics_and_weights(tmp_path):
    cfg = _cfg(backbone_bn="frozen")
    start, end = _initial(cfg), _trained(cfg, tmp_path / "run")
    bn = [k for k in start if k.startswith("net.features.") and ("running" in k or (
        k.rsplit(".", 1)[0] + ".running_mean") in start)]
    assert bn and all(torch.equal(start[k], end[k]) for k in bn)
    convs = [k for k in start if k.startswith("net.features.") and k not in bn
             and start[k].dim() == 4]
    assert convs and not any(torch.equal(start[k], end[k]) for k in convs)
    trained = _trained(_cfg(), tmp_path / "default")
    assert not all(torch.equal(start[k], trained[k]) for k in bn if "running_mean" in k)


def test_the_backbone_learning_rate_is_scaled():
    from spp_lab.module import SPPClassifier

    cfg = _cfg(backbone_lr=0.1)
    model = SPPClassifier(cfg.model, cfg.train, num_classes=3, image_size=32)
    opt = model.configure_optimizers()["optimizer"]
    head, trunk = opt.param_groups
    assert (head["lr"], trunk["lr"]) == (pytest.approx(0.01), pytest.approx(0.001))
    assert {id(p) for p in trunk["params"]} == {id(p) for p in model.net.features.parameters()}
    assert len(head["params"]) + len(trunk["params"]) == len(list(model.parameters()))
    default = SPPClassifier(cfg.model, _cfg().train, num_classes=3, image_size=32)
    assert len(default.configure_optimizers()["optimizer"].param_groups) == 1
