"""``SPPClassifier``: the LightningModule of every run; its constructor takes the switches.

    SPPClassifier(ModelConfig(head="spp", levels=[6, 3, 2, 1], pool="max", bins="adaptive"),
                  TrainConfig(sizes=[224, 180], optimizer="sgd", lr=0.01),
                  num_classes=1000, image_size=224)

Every argument but ``num_classes`` has the run config's defaults:

    >>> clf = SPPClassifier(num_classes=10)
    >>> clf.hparams["model"]["arch"], clf.hparams["image_size"], clf.net.classifier.out_features
    ('zf5', 64, 10)

The network is built from the model switches (:func:`spp_lab.models.build_net`); the
training switches set the optimizer, the schedule and multi-size training (each batch's
crops resized on the device to the scheduled size, :mod:`spp_lab.schedule`). ``num_classes``
comes from the data module. One shared ``_step`` serves train, val and test; errors are
logged in percent, as the paper reports them (``val/top1_err``, ``val/top5_err``), with
every other registered measure (:mod:`spp_lab.metrics`). With
``channels_last`` (the default) weights and inputs are NHWC, which oneDNN's CPU
convolutions run 1.3-1.6x faster (``benchmarks/bench_train.py``). Hyperparameters are
saved as plain dicts, so checkpoints load with ``weights_only=True``.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from spp_lab.config import DataConfig, ModelConfig, TrainConfig
from spp_lab.metrics import STAGES, measures
from spp_lab.models import build_net
from spp_lab.schedule import SizeSchedule
from spp_lab.schema import default_of

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


class SPPClassifier(pl.LightningModule):
    def __init__(self, model: ModelConfig | dict[str, Any] | None = None,
                 train: TrainConfig | dict[str, Any] | None = None, *, num_classes: int,
                 image_size: int | None = None) -> None:
        super().__init__()
        model = ModelConfig.model_validate(model if model is not None else {})
        train = TrainConfig.model_validate(train if train is not None else {})
        if image_size is None:
            image_size = default_of(DataConfig, "image_size")
        self.save_hyperparameters({"model": model.model_dump(mode="json"),
                                   "train": train.model_dump(mode="json"),
                                   "num_classes": num_classes, "image_size": image_size})
        self.train_cfg = train
        self.schedule = SizeSchedule.of(train.sizes, image_size, train.size_schedule,
                                        train.seed, train.epochs)
        self.net = build_net(model, num_classes=num_classes, image_size=image_size)
        self.memory_format = (torch.channels_last if train.channels_last
                              else torch.contiguous_format)
        self.net.to(memory_format=self.memory_format)
        self.register_buffer("mean", _MEAN.clone(), persistent=False)
        self.register_buffer("std", _STD.clone(), persistent=False)
        self.measures = {stage: [m for m in measures(stage) if m.compute is not None]
                         for stage in STAGES}

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            x = (x.float() - self.mean) / self.std
        return self.net(x.contiguous(memory_format=self.memory_format))

    def train_size(self, batch_idx: int, epoch: int | None = None) -> int:
        """The training input side for a batch under the size schedule."""
        return self.schedule.size(self.current_epoch if epoch is None else epoch, batch_idx)

    def _step(self, batch: tuple[Tensor, Tensor], batch_idx: int, stage: str) -> Tensor:
        x, y = batch
        if stage == "train":
            size = self.train_size(batch_idx)
            x = (x.float() - self.mean) / self.std
            if x.shape[-1] != size or x.shape[-2] != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                  align_corners=False)
            self.log("train/size", float(size), on_step=False, on_epoch=True,
                     batch_size=len(y))
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.train_cfg.label_smoothing)
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True,
                 batch_size=len(y))
        # Per-batch values, averaged over the epoch weighted by batch size = epoch values.
        for m in self.measures[stage]:
            self.log(f"{stage}/{m.key}", m.compute(logits, y), on_step=False, on_epoch=True,
                     batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, batch_idx, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, batch_idx, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, batch_idx, "test")

    def configure_optimizers(self):
        t = self.train_cfg
        if t.optimizer == "sgd":
            opt = torch.optim.SGD(self.parameters(), lr=t.lr, momentum=t.momentum,
                                  weight_decay=t.weight_decay)
        else:
            opt = torch.optim.AdamW(self.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        if t.lr_schedule == "none":
            return opt
        if t.lr_schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t.epochs)
        elif t.lr_schedule == "step":
            milestones = sorted({max(1, t.epochs // 2), max(1, t.epochs * 3 // 4)})
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
        else:
            # ÷10 on a plateau, at most twice (the paper's schedule).
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, factor=0.1, patience=t.plateau_patience, min_lr=t.lr * 0.01 * 0.999)
            return {"optimizer": opt,
                    "lr_scheduler": {"scheduler": sched, "monitor": "val/loss"}}
        return {"optimizer": opt, "lr_scheduler": sched}
