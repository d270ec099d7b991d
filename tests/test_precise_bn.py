"""``train.bn_recalibrate`` (PreciseBN) and ``train.test_size_epochs``: recalibration
replaces batch norm's running statistics by the plain average over the images it is given
and changes no weight; in training it changes the evaluation, not what is learnt."""

from __future__ import annotations

import torch
from torch import nn

from spp_lab.precise_bn import recalibrate
from spp_lab.schedule import SizeSchedule


def test_recalibration_is_the_plain_average_of_the_batches_statistics():
    bn = nn.BatchNorm2d(3, momentum=0.1)
    net = nn.Sequential(nn.Identity(), bn).train(False)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(4, 3, 5, 7, generator=g) * s + s for s in (1.0, 2.0, 3.0)]
    assert recalibrate(net, batches) == 12
    means = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    variances = torch.stack([b.var(dim=(0, 2, 3), unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(bn.running_mean, means, atol=1e-6)
    assert torch.allclose(bn.running_var, variances, atol=1e-5)
    assert bn.momentum == 0.1 and not net.training and not bn.training  # restored


def test_recalibration_changes_the_statistics_and_not_the_weights():
    from spp_lab.models import get_model

    net = get_model("zf5", preset="cpu", num_classes=3).train()
    weights = {k: v.clone() for k, v in net.named_parameters()}
    stats = {k: v.clone() for k, v in net.named_buffers() if "running" in k}
    x = [torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(i)) for i in (1, 2)]
    frozen = recalibrate(net, x, skip=net.features)  # a frozen backbone keeps its own
    assert frozen == 0 and all(torch.equal(stats[k], v) for k, v in net.named_buffers()
                               if k in stats)  # its only batch norms are the backbone's: none run
    recalibrate(net, x)
    assert all(torch.equal(weights[k], v) for k, v in net.named_parameters())
    changed = [k for k, v in net.named_buffers() if k in stats and not torch.equal(stats[k], v)]
    assert changed == list(stats) and net.training


def test_in_training_it_changes_the_evaluation_not_what_is_learnt(tmp_path):
    """Two runs of one multi-size config, with and without recalibration: the same weights
    at the end (the batch statistics train; the running ones only evaluate), other
    running statistics, another test loss."""
    from spp_lab.config import build_config
    from spp_lab.runner.devices import resolve_auto
    from spp_lab.train import train_run

    tree = {"model": {"width": 0.125, "fc_dim": 32, "levels": [2, 1]},
            "data": {"image_size": 32, "num_train": 128, "num_val": 32, "num_test": 64,
                     "batch_size": 32},
            "train": {"epochs": 2, "sizes": [32, 24], "threads": 1}}
    out = {}
    for n in (0, 96):
        tree["train"]["bn_recalibrate"] = n
        cfg = resolve_auto(build_config(tree), [])
        metrics = train_run(cfg, tmp_path / str(n))
        state = torch.load(tmp_path / str(n) / "checkpoints/last.ckpt",
                           weights_only=True)["state_dict"]
        out[n] = (metrics["test"]["test_loss"], state)
    (loss0, a), (loss1, b) = out[0], out[96]
    params = [k for k in a if "running" not in k and "num_batches" not in k]
    assert all(torch.equal(a[k], b[k]) for k in params)
    assert any(not torch.equal(a[k], b[k]) for k in a if "running_mean" in k)
    assert loss0 != loss1


def test_the_last_epochs_at_the_test_size():
    one = SizeSchedule.of([32, 24], 32, "epoch", 0, 6)
    assert [one.size(e, 0) for e in range(6)] == [24, 32, 24, 32, 24, 32]  # as before
    three = SizeSchedule.of([32, 24], 32, "epoch", 0, 6, tail=3)
    assert [three.size(e, 0) for e in range(6)] == [24, 32, 24, 32, 32, 32]  # 3 at the end
    rand = SizeSchedule.of([32, 24], 32, "random", 0, 6, tail=2)
    assert [rand.size(e, 0) for e in (4, 5)] == [32, 32]
