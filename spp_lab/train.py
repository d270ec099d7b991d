"""Train one model from a :class:`RunConfig` into its run folder (Lightning, CPU or GPU).

``train_run`` seeds everything and trains, with these callbacks:

* :class:`History` appends one row per epoch to ``history.csv`` as it goes;
* :class:`EpochCheckpoint` writes ``checkpoints/last.ckpt`` after every epoch, atomically
  (temporary file, fsync, rename: :class:`AtomicCheckpointIO`): weights, optimizer, LR
  scheduler, the loops' progress, the history rows and the RNG states (:class:`RngState`).
  A rerun resumes from it at the next epoch, with the same numbers an uninterrupted run gets
  (the batch order and the crops are functions of (seed, epoch), the size schedule of
  (seed, epoch, batch));
* :class:`DivergenceGuard` stops a run whose loss becomes non-finite (:class:`Diverged`).

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
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, LearningRateMonitor
from pytorch_lightning.plugins import TorchCheckpointIO

from spp_lab import tracking
from spp_lab.config import RunConfig
from spp_lab.data import SPPDataModule
from spp_lab.errors import UserError
from spp_lab.module import SPPClassifier
from spp_lab.runfolder import RunFolder, write_atomic, write_json

log = logging.getLogger("spp_lab.train")


class Diverged(Exception):
    """The training loss became non-finite: the run stops and is recorded ``diverged``."""


class History(Callback):
    """One row per epoch into ``history.csv``, reported to ``on_epoch``; the rows travel in
    the checkpoint, so a resumed run keeps its earlier epochs byte for byte."""

    def __init__(self, run: RunFolder, on_epoch: Callable[[dict], None] | None = None,
                 first_step: Callable[[], None] | None = None) -> None:
        self.run, self.on_epoch, self.first_step = run, on_epoch, first_step
        self.rows: list[dict[str, Any]] = []
        self._t0 = self._train_time = 0.0
        self._images, self._sizes = 0, set()

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state["rows"])

    def on_train_start(self, trainer, pl_module) -> None:
        self.rows = self.rows[: trainer.current_epoch]  # what the checkpoint holds, if any
        self.run.write_history(self.rows)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0, self._images, self._sizes = time.perf_counter(), 0, set()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.first_step is not None:
            self.first_step()
            self.first_step = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._images += len(batch[1])
        self._sizes.add(pl_module.train_size(batch_idx))

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._train_time = time.perf_counter() - self._t0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Runs after this epoch's validation, so both stages' epoch metrics are in.
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = {
            "epoch": trainer.current_epoch,
            "train_size": "/".join(map(str, sorted(self._sizes))),
            "train_loss": m.get("train/loss_epoch", m.get("train/loss")),
            "train_top1_err": m.get("train/top1_err"),
            "val_loss": m.get("val/loss"),
            "val_top1_err": m.get("val/top1_err"),
            "val_top5_err": m.get("val/top5_err"),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "train_img_per_s": self._images / max(self._train_time, 1e-9),
            "epoch_time_s": time.perf_counter() - self._t0,
        }
        for key in ("train_loss", "val_loss"):
            if row[key] is not None and not np.isfinite(row[key]):
                raise Diverged(f"{key.replace('_', ' ')} became non-finite ({row[key]}) "
                               f"by epoch {row['epoch'] + 1}")
        self.rows = self.rows[: row["epoch"]] + [row]
        self.run.write_history(self.rows)
        for lg in trainer.loggers:
            lg.log_metrics({"train/img_per_s": row["train_img_per_s"],
                            "train/epoch_time_s": row["epoch_time_s"]}, step=trainer.global_step)
        if self.on_epoch:
            self.on_epoch(row)


class DivergenceGuard(Callback):
    """Stops training once the loss is non-finite: checked on the device every batch and
    read back every ``every`` batches, so a GPU never waits on it."""

    def __init__(self, every: int = 50) -> None:
        self.every, self._bad = every, None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        bad = ~torch.isfinite(loss.detach())
        self._bad = bad if self._bad is None else self._bad | bad
        if (batch_idx + 1) % self.every == 0:
            self.check(trainer, batch_idx)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.check(trainer, None)

    def check(self, trainer, batch_idx: int | None) -> None:
        if self._bad is not None and bool(self._bad):
            where = f"batch {batch_idx + 1} of " if batch_idx is not None else ""
            raise Diverged(f"training loss became non-finite by {where}epoch "
                           f"{trainer.current_epoch + 1}")
        self._bad = None


class RngState(Callback):
    """Python, NumPy and torch RNG states in the checkpoint (as plain lists and tensors)."""

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state = {"python": list(random.getstate()[1]), "python_pos": random.getstate()[2],
                 "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
                 "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        random.setstate((3, tuple(state["python"]), state["python_pos"]))
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


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


class EpochCheckpoint(Callback):
    """``checkpoints/last.ckpt`` after every epoch (atomic: :class:`AtomicCheckpointIO`)."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        trainer.save_checkpoint(self.run.last_ckpt)


class WeightAverage(Callback):
    """``train.ema``: an exponential moving average of the weights,
    ``avg ← d · avg + (1 − d) · w`` after optimizer step t with ``d = min(decay, (1 + t) /
    (10 + t))`` (timm's warmup: early steps do not drag the random initial weights along),
    swapped in for validation and test. Batch-norm statistics are the live ones (those of
    the last epoch, at the test size), not averaged across multi-size epochs. Part of the
    checkpoint."""

    def __init__(self, decay: float) -> None:
        self.decay, self.avg, self._raw, self.steps = decay, None, None, 0

    def _tensors(self, pl_module) -> list[torch.Tensor]:
        return list(pl_module.net.parameters())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        live = [t.detach() for t in self._tensors(pl_module)]
        self.steps += 1
        if self.avg is None:
            self.avg = [t.clone() for t in live]
        else:
            d = min(self.decay, (1 + self.steps) / (10 + self.steps))
            torch._foreach_lerp_(self.avg, live, 1.0 - d)

    def _swap_in(self, trainer, pl_module) -> None:
        if self.avg is None or self._raw is not None:
            return
        tensors = self._tensors(pl_module)
        self._raw = [t.detach().clone() for t in tensors]
        with torch.no_grad():
            for t, a in zip(tensors, self.avg):
                t.copy_(a)

    def _swap_out(self, trainer, pl_module) -> None:
        if self._raw is None:
            return
        with torch.no_grad():
            for t, r in zip(self._tensors(pl_module), self._raw):
                t.copy_(r)
        self._raw = None

    on_validation_start = on_test_start = _swap_in
    on_validation_end = _swap_out

    def state_dict(self) -> dict[str, Any]:
        return {"avg": self.avg, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.avg, self.steps = state["avg"], state["steps"]


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
    """``metrics.json``: final (last epoch) and best (lowest val top-1 error) values."""
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


def _score_test(trainer: pl.Trainer, model: SPPClassifier, dm: SPPDataModule,
                cfg: RunConfig) -> dict:
    """The final model on the held-out test split, once, in the standard view and in each
    of ``data.test_views``: ``{"test_top1_err": ..., "test_full_top1_err": ...}`` or {}.
    A fixed-size head (``pool``) has no score at another size: null."""
    if not dm.has_test:
        return {}
    out: dict[str, float | None] = {}
    keys = ("top1_err", "top5_err", "loss")
    for view in [None, *cfg.data.test_views]:
        prefix = "test_" if view is None else f"test_{view}_"
        if view is not None and cfg.model.head == "pool" and view != cfg.data.image_size:
            out |= {prefix + k: None for k in keys}
            continue
        loader = dm.test_dataloader() if view is None else dm.test_view_loader(view)
        trainer.test(model, dataloaders=loader, verbose=False)
        m = trainer.callback_metrics
        out |= {prefix + k: float(m[f"test/{k}"]) for k in keys if f"test/{k}" in m}
    if not all(np.isfinite(v) for v in out.values() if v is not None):
        raise Diverged(f"test metrics are not finite: {out}")
    return out


def _trainer(cfg: RunConfig, run: RunFolder, callbacks: list[Callback], logger) -> pl.Trainer:
    t = cfg.train
    return pl.Trainer(
        max_epochs=t.epochs, accelerator=t.accelerator, devices=1,
        precision="32-true" if t.precision == "auto" else t.precision,
        deterministic=t.deterministic, limit_train_batches=t.limit_train_batches,
        limit_val_batches=t.limit_val_batches, num_sanity_val_steps=0,
        logger=logger or False, callbacks=callbacks, plugins=[AtomicCheckpointIO()],
        enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False, default_root_dir=str(run.path))


def train_run(cfg: RunConfig, out: Path, on_epoch: Callable[[dict], None] | None = None,
              first_step: Callable[[], None] | None = None, condition: str = "default",
              wandb_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train ``cfg`` into folder ``out`` (resuming from its checkpoint); returns (and
    writes) ``metrics.json``'s content. ``out.name`` is the run id; ``condition`` and
    ``wandb_extra`` label the W&B run."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    run = RunFolder(out)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(cfg.model_dump(mode="json"))
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    pl.seed_everything(cfg.train.seed, workers=True, verbose=False)
    dm = SPPDataModule(cfg.data, train_seed=cfg.train.seed)
    try:
        model = SPPClassifier(cfg.model, cfg.train, num_classes=dm.num_classes,
                              image_size=cfg.data.image_size)
    except ValueError as err:  # a switch combination the model cannot build
        raise UserError(f"config: {err}") from None
    history = History(run, on_epoch, first_step)
    logger = tracking.make_logger(cfg, run.run_id, condition, {"config_hash": run.run_id,
                                                               **(wandb_extra or {})})
    callbacks: list[Callback] = [history, DivergenceGuard(), RngState()]
    if cfg.train.ema is not None:
        callbacks.append(WeightAverage(cfg.train.ema))
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if cfg.train.checkpoint:
        callbacks.append(EpochCheckpoint(run))  # last: after History has its row
    trainer = _trainer(cfg, run, callbacks, logger)
    ckpt = usable_checkpoint(run) if cfg.train.checkpoint else None
    if ckpt is not None:
        print(f"== resuming from {ckpt}")
    trainer.fit(model, dm, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    if not history.rows:
        raise RuntimeError("training finished without a validation epoch")
    test = _score_test(trainer, model, dm, cfg)
    metrics = summarize(history.rows, model, time.perf_counter() - t0)
    metrics["cpu_time_s"] = time.process_time() - cpu0  # this process, all its threads
    metrics["data"] = dm.counts
    if test:
        metrics["test"] = test
    metrics["device"] = str(trainer.strategy.root_device)
    metrics["flops_per_image"] = flops_per_image(model, cfg.data.image_size)
    metrics["wandb"] = tracking.finish(logger, metrics)
    write_json(run.metrics_file, metrics)
    return metrics
