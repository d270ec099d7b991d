"""The Lightning callbacks of a run: its history, divergence stop, RNG state, checkpoints
and weight average (each one's state travels in ``last.ckpt``, keyed by class name).

* :class:`History` appends one row per epoch to ``history.csv`` as it goes; the rows travel
  in the checkpoint, so a resumed run keeps its earlier epochs byte for byte;
* :class:`EpochCheckpoint` writes ``checkpoints/last.ckpt`` after every epoch;
* :class:`RngState` keeps the Python, NumPy and torch RNG states in it;
* :class:`DivergenceGuard` stops a run whose loss becomes non-finite (:class:`Diverged`);
* :class:`WeightAverage` is ``train.ema``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from pytorch_lightning.callbacks import Callback

from spp_lab.metrics import history_columns
from spp_lab.results import RunFolder


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
        self.attempt = {"epochs": 0, "batches": 0}  # trained by this process (a resume: fewer)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        rows = [dict(r) for r in state["rows"]]
        if rows and rows[0]["epoch"] == 0:  # a checkpoint of 0.1.0, which counted from 0
            for r in rows:
                r["epoch"] += 1
        self.rows = rows

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
        self.attempt["batches"] += 1
        self._sizes.add(pl_module.train_size(batch_idx))

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._train_time = time.perf_counter() - self._t0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Runs after this epoch's validation, so both stages' epoch metrics are in.
        m = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row: dict[str, Any] = {"epoch": trainer.current_epoch + 1,  # epochs count from 1
                               "train_size": "/".join(map(str, sorted(self._sizes)))}
        for stage in ("train", "val"):
            for key in history_columns(stage):
                name = key.replace("_", "/", 1)  # train_loss → train/loss
                row[key] = (m.get(f"{name}_epoch", m.get(name)) if key == "train_loss"
                            else m.get(name))
        row |= {"lr": trainer.optimizers[0].param_groups[0]["lr"],
                "train_img_per_s": self._images / max(self._train_time, 1e-9),
                "epoch_time_s": time.perf_counter() - self._t0}
        for key in ("train_loss", "val_loss"):
            if row[key] is not None and not np.isfinite(row[key]):
                raise Diverged(f"{key.replace('_', ' ')} became non-finite ({row[key]}) "
                               f"by epoch {row['epoch']}")
        self.rows = self.rows[: row["epoch"] - 1] + [row]
        self.attempt["epochs"] += 1
        self.run.write_history(self.rows)
        for lg in trainer.loggers:  # what Lightning does not log itself, in the epoch's row
            lg.log_metrics({"lr": row["lr"], "train/img_per_s": row["train_img_per_s"],
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
