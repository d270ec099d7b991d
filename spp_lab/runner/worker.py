"""What runs inside one job's process. Imported by the forkserver, so torch, Lightning and
spp-lab's training code are loaded once, and a job starts in milliseconds.

Exit codes: :mod:`spp_lab.runner.executors.base` (done, failed, user error, busy,
interrupted, diverged, no space).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning  # noqa: F401  (preload)
import torch

from spp_lab.callbacks import Diverged
from spp_lab.config import RunConfig
from spp_lab.errors import UserError
from spp_lab.fileio import DISK_ERRORS, write_json
from spp_lab.results import RunFolder
from spp_lab.runner.executors.base import (
    EXIT_BUSY,
    EXIT_DIVERGED,
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_SPACE,
    EXIT_USER,
)
from spp_lab.runs import environment, now
from spp_lab.train import train_run


class Interrupted(BaseException):
    """Raised in the job when it gets SIGTERM or SIGINT."""


def stop_on_signals() -> None:
    """SIGTERM and SIGINT (Ctrl-C) stop the job with :class:`Interrupted`, which Lightning
    passes on (its own Ctrl-C handling would exit 1 without a status)."""
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)


def _raise_interrupted(signum, frame):
    """The first SIGTERM/SIGINT stops the job; later ones are ignored, so that its clean-up
    (the checkpoint, the status, the W&B run's flush) is not cut short."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


def _die_with_runner(runner_pid: int) -> None:
    """SIGTERM this job when its runner is gone (even after a SIGKILL of the runner)."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(runner_pid, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, daemon=True, name="runner-watch").start()


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""


_ENTRY_CPU_S: float | None = None  # the job process's CPU seconds when run_job began


def run_job(spec: dict[str, Any]) -> None:
    """Entry point of a local job process: log to the run folder, watch the runner, run."""
    global _ENTRY_CPU_S
    _ENTRY_CPU_S = time.process_time()  # warm (forked with torch loaded): ~0; cold: imports
    if spec.get("runner_pid"):
        _die_with_runner(spec["runner_pid"])
    stop_on_signals()
    run_dir = Path(spec["run_dir"])
    if spec.get("gpu") is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(spec["gpu"])
    try:
        fd = os.open(RunFolder(run_dir).log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as err:
        os._exit(EXIT_NO_SPACE if err.errno in DISK_ERRORS else EXIT_FAILED)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    os._exit(execute(spec))


def execute(spec: dict[str, Any], on_epoch: Callable[[dict], None] | None = None) -> int:
    """Run the job under its lock in this process; returns one of the exit codes.
    ``on_epoch(row)``: called after each epoch besides the progress file."""
    from spp_lab import plugins

    run = RunFolder(spec["run_dir"])
    try:
        plugins.load(spec.get("plugins") or [])
    except UserError as err:
        print(f"== user error: {err}")
        return EXIT_USER
    try:
        if not run.lock.acquire():
            return EXIT_BUSY
    except OSError as err:
        return EXIT_NO_SPACE if err.errno in DISK_ERRORS else EXIT_FAILED
    try:
        if run.state().state == "done" and not spec.get("force"):
            return EXIT_BUSY  # another runner finished it between our check and our lock
        return _run_locked(spec, run, on_epoch)
    finally:
        run.lock.release()


def _safe_status(run: RunFolder, **fields: Any) -> None:
    """A status update that a full disk cannot turn into a second error."""
    try:
        run.update_status(**fields)
    except OSError as err:
        print(f"== could not write {run.status_file}: {err.strerror}")


def _start(spec: dict[str, Any], run: RunFolder) -> dict[str, Any]:
    """``status.json`` says this attempt runs here (OSError where it cannot be written)."""
    return run.update_status(
        state="running", pid=os.getpid(), started=now(), ended=None,
        attempts=spec["attempt"], run_id=spec["run_id"], condition=spec["condition"],
        seed=spec["seed"], dispatched_at=spec["dispatched_at"], error=None, reason=None,
        visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"), **environment())


def _run_locked(spec: dict[str, Any], run: RunFolder,
                also: Callable[[dict], None] | None = None) -> int:
    torch.set_num_threads(spec["threads"])
    cfg = RunConfig.model_validate(spec["config"])
    try:
        prev = _start(spec, run)
    except OSError as err:
        print(f"== cannot write {run.status_file}: {err.strerror}")
        return EXIT_NO_SPACE if err.errno in DISK_ERRORS else EXIT_FAILED
    print(f"== attempt {prev['attempts']} of run {spec['run_id']} at {prev['started']}")

    def on_epoch(row: dict) -> None:
        write_json(run.progress, {"epoch": row["epoch"], "epochs": cfg.train.epochs,
                                  "val_top1_err": row["val_top1_err"], "time": time.time()})
        if also is not None:
            also(row)

    try:
        write_json(run.progress, {"epoch": 0, "epochs": cfg.train.epochs, "time": time.time()})
        metrics = train_run(
            cfg, run.path, on_epoch=on_epoch, condition=spec["condition"],
            first_step=lambda: write_json(run.first_step, {  # this process's CPU seconds
                "time": time.time(), "cpu_s": time.process_time(), "cpu_s_at_entry":
                _ENTRY_CPU_S}),
            wandb_extra={"experiment_file": spec.get("source"),
                         "git_commit": prev.get("git_commit")})
    except BaseException as err:  # noqa: BLE001  (a job's failure must not reach the runner)
        return _stopped(run, err)
    _safe_status(run, state="done", ended=now(), device=metrics.get("device"),
                 wandb=metrics.get("wandb"), error=None, traceback=None, log_tail=None)
    return EXIT_DONE


def _stopped(run: RunFolder, err: BaseException) -> int:
    """The status and exit code of an attempt that ended by ``err``."""
    if isinstance(err, Interrupted):
        _safe_status(run, state="interrupted", ended=now(), reason=str(err))
        print(f"== interrupted ({err}); resumes from the last checkpoint")
        return EXIT_INTERRUPTED
    if isinstance(err, Diverged):
        print(f"== diverged: {err}")
        _safe_status(run, state="diverged", ended=now(), error=str(err))
        return EXIT_DIVERGED
    if isinstance(err, UserError):
        print(f"== user error: {err}")
        _safe_status(run, state="failed", ended=now(), error=str(err), user_error=True)
        return EXIT_USER
    if isinstance(err, OSError) and err.errno in DISK_ERRORS:
        print(f"== {err.filename or run.path}: {err.strerror}")
        _safe_status(run, state="interrupted", ended=now(), reason=err.strerror)
        return EXIT_NO_SPACE
    return _failed(run, err)


def _failed(run: RunFolder, err: BaseException) -> int:
    tb = traceback.format_exc()
    print(tb)
    _safe_status(run, state="failed", ended=now(), error=f"{type(err).__name__}: {err}",
                 traceback=tb, log_tail=_log_tail(run.log))
    return EXIT_FAILED
