"""``SPPClassifier``: the LightningModule whose constructor exposes the ablation's switches.

One shared ``_step`` serves train, val and test. Errors are logged in percent, as the paper
reports them (``val/top1_err``, ``val/top5_err``). Multi-size training resizes each batch's
crops on the device to the scheduled size with the same weights (the paper resizes the
224 crop to 180); the last epoch is always at ``sizes[0]``, the test size. ``sizes_seen``
counts the images the network received at each size. With ``channels_last`` (the default)
weights and inputs are NHWC, which oneDNN's CPU convolutions run 1.3-1.6x faster
(``benchmarks/bench_train.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from spp_lab.config import RunConfig
from spp_lab.models import get_model

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255


class SPPClassifier(pl.LightningModule):
    def __init__(
        self,
        num_classes: int,
        arch: str = "zf5",
        width: float = 1.0,
        stem: str = "paper",
        batchnorm: bool = False,
        head: str = "spp",
        levels: Sequence[int] = (6, 3, 2, 1),
        pool: str = "max",
        bins: str = "adaptive",
        pool5_bins: int = 6,
        fc_dim: int = 4096,
        dropout: float = 0.5,
        image_size: int = 224,
        sizes: Sequence[int] = (),
        size_schedule: str = "epoch",
        optimizer: str = "sgd",
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        lr_schedule: str = "cosine",
        plateau_patience: int = 3,
        label_smoothing: float = 0.0,
        epochs: int = 10,
        seed: int = 0,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = get_model(
            arch, num_classes=num_classes, width=width, stem=stem, batchnorm=batchnorm,
            fc_dim=fc_dim, head=head, levels=tuple(levels), pool=pool, bins=bins,
            pool5_bins=pool5_bins, train_size=image_size, dropout=dropout)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net.to(memory_format=self.memory_format)
        self.sizes = list(sizes) or [image_size]
        if head == "pool" and set(self.sizes) != {image_size}:
            raise ValueError("head='pool' is fixed-size: multi-size training needs head='spp'")
        self.register_buffer("mean", _MEAN.clone(), persistent=False)
        self.register_buffer("std", _STD.clone(), persistent=False)
        self.topk = sorted({1, min(5, num_classes)})
        self.sizes_seen: Counter[int] = Counter()

    @classmethod
    def from_config(cls, cfg: RunConfig, num_classes: int) -> SPPClassifier:
        m, t = cfg.model, cfg.train
        return cls(
            num_classes, arch=m.arch, width=m.width, stem=m.stem, batchnorm=m.batchnorm,
            head=m.head, levels=m.levels, pool=m.pool, bins=m.bins, pool5_bins=m.pool5_bins,
            fc_dim=m.fc_dim, dropout=m.dropout, image_size=cfg.data.image_size, sizes=t.sizes,
            size_schedule=t.size_schedule, optimizer=t.optimizer, lr=t.lr, momentum=t.momentum,
            weight_decay=t.weight_decay, lr_schedule=t.lr_schedule,
            plateau_patience=t.plateau_patience, label_smoothing=t.label_smoothing,
            epochs=t.epochs, seed=t.seed, channels_last=t.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8:
            x = (x.float() - self.mean) / self.std
        return self.net(x.contiguous(memory_format=self.memory_format))

    def train_size(self, batch_idx: int, epoch: int | None = None) -> int:
        """The training input side for a batch under the size schedule."""
        sizes, sched = self.sizes, self.hparams.size_schedule
        epoch = self.current_epoch if epoch is None else epoch
        if len(sizes) == 1:
            return sizes[0]
        if sched == "batch":
            return sizes[batch_idx % len(sizes)]
        last = self.hparams.epochs - 1
        if epoch >= last:  # the last epoch trains at the test size, sizes[0] (see below)
            return sizes[0]
        if sched == "random":
            g = torch.Generator().manual_seed(self.hparams.seed * 100_003 + epoch)
            return int(torch.randint(min(sizes), max(sizes) + 1, (1,), generator=g))
        # Alternate, counted back from the last epoch: evaluating right after an epoch at
        # another size puts batch-norm statistics and weights out of step with the test size
        # (measured: 77% error after a 32 px epoch against 45% after a 40 px one).
        return sizes[(last - epoch) % len(sizes)]

    def _step(self, batch: tuple[Tensor, Tensor], batch_idx: int, stage: str) -> Tensor:
        x, y = batch
        if stage == "train":
            size = self.train_size(batch_idx)
            x = (x.float() - self.mean) / self.std
            if x.shape[-1] != size or x.shape[-2] != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                  align_corners=False)
            self.sizes_seen[size] += x.shape[0]
            self.log("train/size", float(size), on_step=False, on_epoch=True,
                     batch_size=len(y))
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True,
                 batch_size=len(y))
        # Per-batch errors, averaged over the epoch weighted by batch size = epoch errors.
        hit = logits.detach().topk(self.topk[-1], dim=1).indices == y[:, None]
        for k in self.topk:
            err = 100.0 * (1.0 - hit[:, :k].any(dim=1).float().mean())
            self.log(f"{stage}/top{k}_err", err, on_step=False, on_epoch=True,
                     batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, batch_idx, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, batch_idx, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, batch_idx, "test")

    def on_train_epoch_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "set_epoch"):
            dm.set_epoch(self.current_epoch)

    def configure_optimizers(self):
        hp = self.hparams
        if hp.optimizer == "sgd":
            opt = torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=hp.momentum,
                                  weight_decay=hp.weight_decay)
        else:
            opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.lr_schedule == "none":
            return opt
        if hp.lr_schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=hp.epochs)
        elif hp.lr_schedule == "step":
            milestones = sorted({max(1, hp.epochs // 2), max(1, hp.epochs * 3 // 4)})
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
        else:
            # ÷10 on a plateau, at most twice (the paper's schedule).
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, factor=0.1, patience=hp.plateau_patience, min_lr=hp.lr * 0.01 * 0.999)
            return {"optimizer": opt,
                    "lr_scheduler": {"scheduler": sched, "monitor": "val/loss"}}
        return {"optimizer": opt, "lr_scheduler": sched}
