"""Train one model from a :class:`RunConfig` into its run folder (Lightning, CPU or GPU).

``train_run`` seeds everything and trains, with the callbacks of :mod:`spp_lab.callbacks`:
one ``history.csv`` row per epoch, and ``checkpoints/last.ckpt`` after every epoch, written
atomically (temporary file, fsync, rename: :class:`AtomicCheckpointIO`): weights, optimizer,
LR scheduler, the loops' progress, the history rows and the RNG states. A rerun resumes from
it at the next epoch, with the same numbers an uninterrupted run gets (the batch order and
the crops are functions of (seed, epoch), the size schedule of (seed, epoch, batch)). A run
whose loss becomes non-finite stops as ``diverged``.

The crops' epoch reaches the datasets with each index, from the sampler whose epoch
Lightning sets (:class:`~spp_lab.data.module.EpochShuffle`).

A checkpoint is loaded with ``weights_only=True``, so a planted one cannot run code; one
that does not load (truncated, foreign) is set aside as ``last.ckpt.corrupt`` and the run
starts over. At the end ``metrics.json`` holds the final and best values, plus the final
model's errors on the held-out test set when the data has one (``data.num_test``).
"""

from __future__ import annotations

import io
import logging
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.plugins import TorchCheckpointIO

from spp_lab import diagnose, tracking
from spp_lab.callbacks import (
    Diverged,
    DivergenceGuard,
    EpochCheckpoint,
    History,
    RngState,
    WeightAverage,
)
from spp_lab.config import RunConfig
from spp_lab.data import SPPDataModule
from spp_lab.errors import UserError
from spp_lab.fileio import write_atomic, write_json
from spp_lab.metrics import history_columns, measures
from spp_lab.module import SPPClassifier
from spp_lab.results import RunFolder

log = logging.getLogger("spp_lab.train")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint files, written atomically (temporary file, fsync, rename), so
    a crash or a full disk leaves the previous checkpoint whole; read with
    ``weights_only=True`` whatever the caller asks. The checkpoint is serialised in memory
    first: torch's zip writer turns a short write into an opaque RuntimeError, where a plain
    write raises ``OSError(ENOSPC)`` that the runner recognises as a full disk."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        write_atomic(Path(path), buf.getbuffer())

    def load_checkpoint(self, path, map_location=None, weights_only=None):
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


def usable_checkpoint(run: RunFolder) -> Path | None:
    """``last.ckpt`` if it loads as plain tensors and containers (``weights_only``); a file
    that does not is renamed ``last.ckpt.corrupt`` (kept for inspection) and ignored."""
    path = run.last_ckpt
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "epoch" not in ckpt:
            raise ValueError("not a Lightning checkpoint")
    except Exception as err:  # noqa: BLE001  (any unreadable file: start over)
        print(f"== {path}: not a usable checkpoint ({type(err).__name__}: {str(err)[:200]}); "
              "set aside as last.ckpt.corrupt, training starts over")
        os.replace(path, path.with_name("last.ckpt.corrupt"))
        return None
    return path


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
    """``metrics.json``: final (last epoch) values of every training and validation measure,
    and best (the epoch of the lowest val top-1 error) of every validation one."""
    final = rows[-1]
    best = min(rows, key=lambda r: r["val_top1_err"])
    speeds = [r["train_img_per_s"] for r in rows[1:]] or [rows[0]["train_img_per_s"]]
    return {
        "final": {k: final.get(k) for k in (*history_columns("val"),
                                            *history_columns("train"))},
        "best": {**{f"val_{m.key}": best.get(f"val_{m.key}") for m in measures("val")
                    if m.best}, "epoch": int(best["epoch"])},
        "epochs": len(rows),
        "first_epoch": 1,  # epochs count from 1 (0.1.0 counted from 0: spp_lab.results)
        "params": sum(p.numel() for p in model.parameters()),
        "train_img_per_s": sorted(speeds)[len(speeds) // 2],
        "wall_time_s": wall,
    }


def _score_test(trainer: pl.Trainer, model: SPPClassifier, dm: SPPDataModule,
                cfg: RunConfig, notes: list[str]) -> dict:
    """The final model on the held-out test split, once, in the standard view and in each
    of ``data.test_views``: ``{"test_top1_err": ..., "test_full_top1_err": ...}`` or {}.
    A fixed-size head (``pool``) has no score at another size: null."""
    if not dm.has_test:
        return {}
    out: dict[str, float | None] = {}
    from spp_lab.models import head_spec

    keys = [m.key for m in measures("test", dm.num_classes)]
    fixed = head_spec(cfg.model.head).fixed_size
    for view in [None, *cfg.data.test_views]:
        prefix = "test_" if view is None else f"test_{view}_"
        if view is not None and fixed and view != cfg.data.image_size:
            out |= {prefix + k: None for k in keys}
            _note(notes, diagnose.view_note(view, cfg.model.head, cfg.data.image_size))
            continue
        loader = dm.test_dataloader() if view is None else dm.test_view_loader(view)
        for logger in trainer.loggers:  # W&B: test_full/top1_err beside test/top1_err
            if hasattr(logger, "test_view"):
                logger.test_view = view
        trainer.test(model, dataloaders=loader, verbose=False)
        m = trainer.callback_metrics
        out |= {prefix + k: float(m[f"test/{k}"]) for k in keys if f"test/{k}" in m}
    if not all(np.isfinite(v) for v in out.values() if v is not None):
        raise Diverged(f"test metrics are not finite: {out}")
    return out


def _trainer(cfg: RunConfig, run: RunFolder, callbacks: list[Callback], logger,
             steps: int) -> pl.Trainer:
    """Lightning's trainer; ``steps``: optimizer steps an epoch (the loss is logged every 50
    steps, or once an epoch in a shorter one)."""
    t = cfg.train
    return pl.Trainer(
        max_epochs=t.epochs, accelerator=t.accelerator, devices=1,
        precision="32-true" if t.precision == "auto" else t.precision,
        deterministic=t.deterministic, limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches, num_sanity_val_steps=0,
        logger=logger or False, callbacks=callbacks, plugins=[AtomicCheckpointIO()],
        log_every_n_steps=max(1, min(50, t.limit_train_batches or 50, steps)),
        enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False, default_root_dir=str(run.path))


def _model(cfg: RunConfig, num_classes: int) -> SPPClassifier:
    """The LightningModule, its backbone's weights loaded."""
    try:
        return SPPClassifier(cfg.model, cfg.train, num_classes=num_classes,
                             image_size=cfg.data.image_size)
    except ValueError as err:  # a switch combination the model cannot build
        raise UserError(f"config: {err}") from None


def _note(notes: list[str], text: str | None) -> None:
    """A note on the run: printed (the terminal, or the job's log) and kept for metrics."""
    if text:
        print(f"== note: {text}", flush=True)
        notes.append(text)


def _prepare(cfg: RunConfig, out: Path) -> RunFolder:
    """The run folder with its config, the process's threads and log levels, the weights
    checked (before the data: a missing file is said at once), everything seeded."""
    from spp_lab.models import weights

    run = RunFolder(out)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(cfg.model_dump(mode="json"))
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # Lightning's own, not ours
    weights.check(cfg.model)
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    return run


def _callbacks(cfg: RunConfig, run: RunFolder, history: History) -> list[Callback]:
    callbacks: list[Callback] = [history, DivergenceGuard(), RngState()]
    if cfg.train.ema is not None:
        callbacks.append(WeightAverage(cfg.train.ema))
    if cfg.train.bn_recalibrate:  # after the average is swapped in: its statistics
        from spp_lab.precise_bn import BatchNormRecalibration

        callbacks.append(BatchNormRecalibration(cfg.train.bn_recalibrate))
    if cfg.train.checkpoint:
        callbacks.append(EpochCheckpoint(run))  # last: after History has its row
    return callbacks


def train_run(cfg: RunConfig, out: Path, on_epoch: Callable[[dict], None] | None = None,
              first_step: Callable[[], None] | None = None, condition: str = "default",
              wandb_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``cfg`` into folder ``out`` (resuming from its checkpoint); returns (and
    writes) ``metrics.json``'s content. ``out.name`` is the run id; ``condition`` and
    ``wandb_extra`` label the W&B run."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    run = _prepare(cfg, out)
    dm = SPPDataModule(cfg.data, train_seed=cfg.train.seed)
    notes: list[str] = []
    _note(notes, diagnose.steps_note(len(dm.train_ds), dm.batch_size))
    model = _model(cfg, dm.num_classes)
    history = History(run, on_epoch, first_step)
    logger = tracking.make_logger(cfg, run.run_id, condition, {"config_hash": run.run_id,
                                                               **(wandb_extra or {})})
    trainer = _trainer(cfg, run, _callbacks(cfg, run, history), logger,
                       max(len(dm.train_ds) // dm.batch_size, 1))
    ckpt = usable_checkpoint(run) if cfg.train.checkpoint else None
    if ckpt is not None:
        print(f"== resuming from {ckpt}")
    try:
        trainer.fit(model, dm, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    except BaseException as err:  # interrupted, diverged, failed: W&B keeps what it got
        tracking.abort(logger, type(err).__name__)
        raise
    if not history.rows:
        raise RuntimeError("training finished without a validation epoch")
    test = _score_test(trainer, model, dm, cfg, notes)
    _note(notes, diagnose.learning_note(history.rows, dm.num_classes))
    metrics = summarize(history.rows, model, time.perf_counter() - t0) | {
        "notes": notes, "cpu_time_s": time.process_time() - cpu0,  # all this process' threads
        "this_attempt": history.attempt,  # epochs and batches trained by the last attempt
        "data": dm.counts, "classes": list(dm.classes),  # the labels, for the exported model
        "input": {"size": cfg.data.image_size, "mean": model.hparams["input_mean"],
                  "std": model.hparams["input_std"]},  # RGB in [0, 1]
        **({"test": test} if test else {}), "device": str(trainer.strategy.root_device),
        "flops_per_image": flops_per_image(model, cfg.data.image_size)}
    metrics["wandb"] = tracking.finish(logger, metrics)
    write_json(run.metrics_file, metrics)
    return metrics
