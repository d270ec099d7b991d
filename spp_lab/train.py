"""Train one model from a :class:`RunConfig` into its run folder (Lightning, CPU or GPU).

``train_run`` seeds everything, resumes from ``checkpoints/last.ckpt`` when the folder has
one, appends one row per epoch to ``history.csv`` as it goes (a crash keeps finished
epochs), and writes ``metrics.json`` with the final and best values at the end, plus the
final model's errors on the held-out test set when the data has one (``data.num_test``).
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, LearningRateMonitor, ModelCheckpoint

from spp_lab import tracking
from spp_lab.config import RunConfig
from spp_lab.data import SPPDataModule
from spp_lab.errors import UserError
from spp_lab.module import SPPClassifier
from spp_lab.runs import write_config, write_json

HISTORY_FIELDS = ("epoch", "train_size", "train_loss", "train_top1_err", "val_loss",
                  "val_top1_err", "val_top5_err", "lr", "train_img_per_s", "epoch_time_s")


class History(Callback):
    """Appends one row per epoch to ``history.csv`` and reports it to ``on_epoch``."""

    def __init__(self, path: Path, on_epoch: Callable[[dict], None] | None = None,
                 first_step: Callable[[], None] | None = None) -> None:
        self.path, self.on_epoch, self.first_step = path, on_epoch, first_step
        self.rows: list[dict[str, Any]] = []
        self._t0 = self._images = 0.0

    def load(self, done_epochs: int) -> None:
        """Resuming: keep the rows of the epochs the checkpoint already holds."""
        self.rows = []
        if self.path.exists():
            with self.path.open() as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < done_epochs]
        self._write_all()

    def on_train_start(self, trainer, pl_module) -> None:
        self.load(trainer.current_epoch)  # after the checkpoint has been restored

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0, self._images = time.perf_counter(), 0
        pl_module.sizes_seen.clear()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first_step is not None:
            self.first_step()
            self.first_step = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._images += len(batch[1])

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._train_time = time.perf_counter() - self._t0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Runs after this epoch's validation, so both stages' epoch metrics are in.
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        sizes = sorted(pl_module.sizes_seen)
        row = {
            "epoch": trainer.current_epoch,
            "train_size": "/".join(map(str, sizes)),
            "train_loss": m.get("train/loss_epoch", m.get("train/loss")),
            "train_top1_err": m.get("train/top1_err"),
            "val_loss": m.get("val/loss"),
            "val_top1_err": m.get("val/top1_err"),
            "val_top5_err": m.get("val/top5_err"),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "train_img_per_s": self._images / max(getattr(self, "_train_time", 0.0), 1e-9),
            "epoch_time_s": time.perf_counter() - self._t0,
        }
        self.rows = [r for r in self.rows if int(r["epoch"]) != row["epoch"]] + [row]
        self._write_all()
        for lg in trainer.loggers:
            lg.log_metrics({"train/img_per_s": row["train_img_per_s"],
                            "train/epoch_time_s": row["epoch_time_s"]}, step=trainer.global_step)
        if self.on_epoch:
            self.on_epoch(row)

    def _write_all(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, HISTORY_FIELDS)
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(self.path)


def flops_per_image(model: torch.nn.Module, size: int) -> int:
    """Forward FLOPs for one ``size×size`` image, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    param = next(model.parameters())
    x = torch.zeros(1, 3, size, size, device=param.device, dtype=param.dtype)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return int(counter.get_total_flops())


def summarize(rows: list[dict[str, Any]], model: torch.nn.Module, wall: float) -> dict:
    """``metrics.json``: final (last epoch) and best (lowest val top-1 error) values."""
    rows = [{k: (float(v) if k != "train_size" and v not in (None, "") else v)
             for k, v in r.items()} for r in rows]
    final = rows[-1]
    best = min(rows, key=lambda r: r["val_top1_err"])
    speeds = [r["train_img_per_s"] for r in rows[1:]] or [rows[0]["train_img_per_s"]]
    return {
        "final": {k: final[k] for k in ("val_top1_err", "val_top5_err", "val_loss",
                                        "train_loss", "train_top1_err")},
        "best": {"val_top1_err": best["val_top1_err"], "val_top5_err": best["val_top5_err"],
                 "epoch": int(best["epoch"])},
        "epochs": len(rows),
        "params": sum(p.numel() for p in model.parameters()),
        "train_img_per_s": sorted(speeds)[len(speeds) // 2],
        "wall_time_s": wall,
    }


def _score_test(trainer: pl.Trainer, model: SPPClassifier, dm: SPPDataModule) -> dict:
    """The final model on the held-out test set, once: ``{"test_top1_err": ...}`` or {}."""
    if not dm.has_test:
        return {}
    trainer.test(model, datamodule=dm, verbose=False)
    m = trainer.callback_metrics
    return {f"test_{k}": float(m[f"test/{k}"]) for k in ("top1_err", "top5_err", "loss")
            if f"test/{k}" in m}


def train_run(cfg: RunConfig, out: Path, on_epoch: Callable[[dict], None] | None = None,
              first_step: Callable[[], None] | None = None, condition: str = "default",
              wandb_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``cfg`` into folder ``out``; returns (and writes) ``metrics.json``'s content.

    ``out.name`` is the run id; ``condition`` and ``wandb_extra`` label the W&B run.
    """
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    write_config(out / "config.yaml", cfg)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    dm = SPPDataModule(cfg.data, train_seed=cfg.train.seed)
    try:
        model = SPPClassifier.from_config(cfg, dm.num_classes)
    except ValueError as err:  # a switch combination the model cannot build
        raise UserError(f"config: {err}") from None
    history = History(out / "history.csv", on_epoch, first_step)
    logger = tracking.make_logger(cfg, out.name, condition, {"config_hash": out.name,
                                                            **(wandb_extra or {})})
    callbacks: list[Callback] = [history]
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if cfg.train.checkpoint:
        callbacks.append(ModelCheckpoint(dirpath=out / "checkpoints", save_last=True,
                                         save_top_k=0, enable_version_counter=False))
    trainer = pl.Trainer(
        max_epochs=cfg.train.epochs, accelerator=cfg.train.accelerator, devices=1,
        precision=cfg.train.precision, deterministic=cfg.train.deterministic,
        limit_train_batches=cfg.train.limit_train_batches,
        limit_val_batches=cfg.train.limit_val_batches, num_sanity_val_steps=0,
        logger=logger or False, callbacks=callbacks, enable_progress_bar=False,
        enable_checkpointing=cfg.train.checkpoint,
        enable_model_summary=False, default_root_dir=str(out))
    last = out / "checkpoints" / "last.ckpt"
    if last.exists():
        done = torch.load(last, map_location="cpu", weights_only=False)["epoch"] + 1
        history.load(done)
    trainer.fit(model, dm, ckpt_path=str(last) if last.exists() else None)
    if not history.rows:
        raise RuntimeError("training finished without a validation epoch")
    test = _score_test(trainer, model, dm)
    metrics = summarize(history.rows, model, time.perf_counter() - t0)
    if test:
        metrics["test"] = test
    metrics["device"] = str(trainer.strategy.root_device)
    metrics["flops_per_image"] = flops_per_image(model, cfg.data.image_size)
    metrics["wandb"] = tracking.finish(logger, metrics)
    write_json(out / "metrics.json", metrics)
    return metrics
