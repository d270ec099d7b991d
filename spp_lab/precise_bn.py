"""Batch-norm statistics recomputed at the evaluation size (PreciseBN: Wu & Johnson 2021;
the train/test resolution discrepancy: Touvron et al. 2019), as ``train.bn_recalibrate``.

A batch-norm layer evaluates with running averages of the batch statistics it saw in
training (momentum 0.1: mostly the last few hundred batches). After multi-size training
those follow the last size trained, and a model evaluated at another size is judged with
another size's statistics. :func:`recalibrate` replaces them, before an evaluation, by the
plain average over ``images`` training images at the test size, in train mode and without
gradient: the weights are untouched, only the running mean and variance change.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from pytorch_lightning.callbacks import Callback
from torch import Tensor, nn


def recalibrate(net: nn.Module, batches: Iterable[Tensor], skip: nn.Module | None = None
                ) -> int:
    """Recompute the running statistics of every batch-norm layer of ``net`` (those under
    ``skip`` left as they are) from ``batches`` of network inputs; returns the images used."""
    frozen = {id(m) for m in skip.modules()} if skip is not None else set()
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.track_running_stats and id(m) not in frozen]
    if not bns:
        return 0
    modes = {m: m.training for m in net.modules()}
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches, not an exponential one
    net.eval()
    for m in bns:
        m.train()
    seen = 0
    with torch.no_grad():
        for x in batches:
            net(x)
            seen += len(x)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    for m, mode in modes.items():
        m.train(mode)
    return seen


class BatchNormRecalibration(Callback):
    """``train.bn_recalibrate``: before each validation and the test, the first ``images``
    training images (epoch 0's crops, at the test size: a fixed set) recompute batch norm's
    statistics (:func:`recalibrate`). A backbone whose batch norm is frozen keeps its own."""

    def __init__(self, images: int) -> None:
        self.images = images

    def _batches(self, trainer, pl_module):
        ds, size = trainer.datamodule.train_ds, trainer.datamodule.batch_size
        n = min(self.images, len(ds))
        for start in range(0, n, size):
            items = [ds[(i, 0)] for i in range(start, min(start + size, n))]
            x = torch.stack([img for img, _ in items]).to(pl_module.device)
            yield pl_module.inputs(x, 0, "val").contiguous(memory_format=pl_module.memory_format)

    def _run(self, trainer, pl_module) -> None:
        t = pl_module.train_cfg
        keep = pl_module.net.features if (t.backbone_bn == "frozen"
                                          or t.freeze_backbone == "all") else None
        with torch.inference_mode(False):
            recalibrate(pl_module.net, self._batches(trainer, pl_module), skip=keep)

    on_validation_start = on_test_start = _run
