"""Every training switch trains on each device: two Lightning steps of each case of a
covering set (every precision × determinism × memory layout with the default head, then
every other option value once). On the CPU in every ``make test``; the ``cuda`` cases run
where a GPU is (``make gpu-check``) and skip elsewhere."""

from __future__ import annotations

import math

import pytest

DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=pytest.mark.cuda)]


def matrix_cases() -> list[dict]:
    cases = [{"precision": p, "deterministic": d, "channels_last": cl, "sizes": [32, 24]}
             for p in ("32-true", "bf16-mixed", "16-mixed") for d in (True, False)
             for cl in (True, False)]
    base = {"precision": "bf16-mixed", "deterministic": True, "channels_last": True}
    for model in ({"pool": "avg"}, {"pool": "avgmax"}, {"pool": "catavgmax"},
                  {"bins": "paper"}, {"head": "pool", "pool5_bins": 3}, {"head": "global"}):
        cases.append(base | {"model": model})
    for sched in ("batch", "random"):
        cases.append(base | {"sizes": [32, 24], "size_schedule": sched})
    return cases


CASES = matrix_cases()


@pytest.fixture(scope="module")
def data():
    from spp_lab.config import DataConfig
    from spp_lab.data import SPPDataModule

    return SPPDataModule(DataConfig(image_size=32, num_train=64, num_val=32, batch_size=16))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=[" ".join(f"{k}={v}" for k, v in c.items())
                                             for c in CASES])
def test_the_switch_trains_on_the_device(case, device, data):
    import pytorch_lightning as pl
    import torch

    from spp_lab.config import ModelConfig, TrainConfig
    from spp_lab.module import SPPClassifier

    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (make gpu-check)")
    model = ModelConfig(stem="small", width=0.125, fc_dim=64, levels=[3, 2, 1],
                        **case.get("model", {}))
    train = TrainConfig(epochs=2, sizes=case.get("sizes", []),
                        size_schedule=case.get("size_schedule", "epoch"),
                        channels_last=case["channels_last"], optimizer="adamw", lr=1e-3)
    net = SPPClassifier(model, train, num_classes=data.num_classes, image_size=32)
    trainer = pl.Trainer(
        max_epochs=2, accelerator="gpu" if device == "cuda" else "cpu", devices=1,
        precision=case["precision"], deterministic=case["deterministic"],
        limit_train_batches=2, limit_val_batches=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(net, data)
    assert math.isfinite(float(trainer.callback_metrics["train/loss"]))
    assert trainer.global_step == 4  # two steps in each of two epochs
