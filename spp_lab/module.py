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

Inputs (the datasets' one contract, :class:`spp_lab.data.splits.Splits`) are uint8 RGB
pixels, normalised on the device by the mean and std the backbone's weights were trained
with (ImageNet's for a network trained here; recorded as ``input_mean``/``input_std``), or
float tensors taken as the network's input as they are, in every stage alike.
Fine-tuning: ``train.backbone_lr`` scales the trunk's learning rate, ``train.freeze_backbone``
freezes it (no gradient, batch norm in eval mode) for the first epochs or throughout, and
``train.backbone_bn: frozen`` keeps its batch norm's statistics and affine weights.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from spp_lab.config import ModelConfig, TrainConfig
from spp_lab.metrics import STAGES, measures
from spp_lab.models import build_net
from spp_lab.models.weights import IMAGENET_MEAN, IMAGENET_STD, input_norm, input_size
from spp_lab.schedule import SizeSchedule


def pixel_norm(mean: list[float], std: list[float]) -> tuple[Tensor, Tensor]:
    """(mean, std) of RGB in [0, 1] as (1, 3, 1, 1) tensors in pixel units (0-255)."""
    return (torch.tensor(mean).view(1, 3, 1, 1) * 255, torch.tensor(std).view(1, 3, 1, 1) * 255)


_MEAN, _STD = pixel_norm(list(IMAGENET_MEAN), list(IMAGENET_STD))


class SPPClassifier(pl.LightningModule):
    def __init__(self, model: ModelConfig | dict[str, Any] | None = None,
                 train: TrainConfig | dict[str, Any] | None = None, *, num_classes: int,
                 image_size: int | None = None, load_weights: bool = True) -> None:
        super().__init__()
        model = ModelConfig.model_validate(model if model is not None else {})
        train = TrainConfig.model_validate(train if train is not None else {})
        if image_size is None:
            image_size = input_size(model.arch, model.pretrained)
        mean, std = input_norm(model)
        self.save_hyperparameters({"model": model.model_dump(mode="json"),
                                   "train": train.model_dump(mode="json"),
                                   "num_classes": num_classes, "image_size": image_size,
                                   "input_mean": mean, "input_std": std})
        self.train_cfg = train
        self.schedule = SizeSchedule.of(train.sizes, image_size, train.size_schedule,
                                        train.seed, train.epochs, train.test_size_epochs)
        self.net = build_net(model, num_classes=num_classes, image_size=image_size,
                             load_weights=load_weights)
        self.memory_format = (torch.channels_last if train.channels_last
                              else torch.contiguous_format)
        self.net.to(memory_format=self.memory_format)
        m, s = pixel_norm(mean, std)
        self.register_buffer("mean", m, persistent=False)
        self.register_buffer("std", s, persistent=False)
        self.measures = {stage: [m for m in measures(stage, num_classes) if m.compute]
                         for stage in STAGES}

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            x = (x.float() - self.mean) / self.std
        return self.net(x.contiguous(memory_format=self.memory_format))

    def _backbone_frozen(self) -> bool:
        f = self.train_cfg.freeze_backbone
        return f == "all" or self.current_epoch < f

    def on_train_epoch_start(self) -> None:
        """The backbone's state for this epoch: frozen (no gradient, eval mode) for the
        first ``freeze_backbone`` epochs, its batch norm kept as pretrained with
        ``backbone_bn: frozen``."""
        frozen = self._backbone_frozen()
        for p in self.net.features.parameters():
            p.requires_grad_(not frozen)
        self._set_backbone_modes()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._set_backbone_modes()  # after Lightning's own train() calls

    def _set_backbone_modes(self) -> None:
        if self._backbone_frozen():
            self.net.features.eval()
        elif self.train_cfg.backbone_bn == "frozen":
            for mod in self.net.features.modules():
                if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                    mod.eval()
                    for p in mod.parameters():
                        p.requires_grad_(False)

    def train_size(self, batch_idx: int, epoch: int | None = None) -> int:
        """The training input side for a batch under the size schedule."""
        return self.schedule.size(self.current_epoch if epoch is None else epoch, batch_idx)

    def inputs(self, x: Tensor, batch_idx: int, stage: str) -> Tensor:
        """A batch as the network takes it, the same in every stage: uint8 pixels normalised
        (float items are taken as they are: :class:`~spp_lab.data.splits.Splits`); in
        training, resized to the size the schedule gives this batch."""
        if x.dtype == torch.uint8:
            x = (x.float() - self.mean) / self.std
        if stage == "train":
            size = self.train_size(batch_idx)
            if x.shape[-1] != size or x.shape[-2] != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                  align_corners=False)
        return x

    def _step(self, batch: tuple[Tensor, Tensor], batch_idx: int, stage: str) -> Tensor:
        x, y = batch
        x = self.inputs(x, batch_idx, stage)
        if stage == "train":
            self.log("train/size", float(x.shape[-1]), on_step=False, on_epoch=True,
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
        groups: Any = self.parameters()  # one group where the backbone takes train.lr
        if t.backbone_lr != 1.0:  # the head's group first: history's lr is train.lr's
            trunk = {id(p) for p in self.net.features.parameters()}
            groups = [{"params": [p for p in self.parameters() if id(p) not in trunk],
                       "lr": t.lr},
                      {"params": [p for p in self.parameters() if id(p) in trunk],
                       "lr": t.lr * t.backbone_lr}]
        if t.optimizer == "sgd":
            opt = torch.optim.SGD(groups, lr=t.lr, momentum=t.momentum,
                                  weight_decay=t.weight_decay)
        else:
            opt = torch.optim.AdamW(groups, lr=t.lr, weight_decay=t.weight_decay)
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
                opt, factor=0.1, patience=t.plateau_patience,
                min_lr=[g["lr"] * 0.01 * 0.999 for g in opt.param_groups])
            return {"optimizer": opt,
                    "lr_scheduler": {"scheduler": sched, "monitor": "val/loss"}}
        return {"optimizer": opt, "lr_scheduler": sched}
