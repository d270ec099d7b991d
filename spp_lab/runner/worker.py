"""What runs inside one job's process. Imported by the forkserver, so torch, Lightning and
spp-lab's training code are loaded once, and a job starts in milliseconds.

Exit codes: 0 done, 1 failed, 3 busy (another process holds the job), 4 interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytorch_lightning  # noqa: F401  (preload)
import torch

from spp_lab.config import RunConfig
from spp_lab.runner.store import JobLock, job_state, update_status
from spp_lab.runs import environment, now, write_json
from spp_lab.train import train_run

EXIT_DONE, EXIT_FAILED, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 3, 4


class Interrupted(BaseException):
    """Raised in the job when it gets SIGTERM or SIGINT."""


def _raise_interrupted(signum, frame):
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


def run_job(spec: dict[str, Any]) -> None:
    """Entry point of a job process; ``spec`` holds the config dict, run dir, device, ..."""
    _die_with_runner(spec["runner_pid"])
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGINT, _raise_interrupted)
    run_dir = Path(spec["run_dir"])
    if spec.get("gpu") is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(spec["gpu"])
    fd = os.open(run_dir / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    os._exit(execute(spec))


def execute(spec: dict[str, Any]) -> int:
    """Run the job under its lock in this process; returns one of the exit codes."""
    run_dir = Path(spec["run_dir"])
    lock = JobLock(run_dir)
    if not lock.acquire():
        return EXIT_BUSY
    if job_state(run_dir) == "done" and not spec.get("force"):
        lock.release()  # another runner finished it between our check and our lock
        return EXIT_BUSY
    try:
        return _run_locked(spec, run_dir)
    finally:
        lock.release()


def _run_locked(spec: dict[str, Any], run_dir: Path) -> int:
    torch.set_num_threads(spec["threads"])
    cfg = RunConfig.model_validate(spec["config"])
    prev = update_status(run_dir, state="running", pid=os.getpid(), started=now(), ended=None,
                         attempts=spec["attempt"], run_id=spec["run_id"],
                         condition=spec["condition"], seed=spec["seed"],
                         dispatched_at=spec["dispatched_at"],
                         visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                         **environment())
    print(f"== attempt {prev['attempts']} of run {spec['run_id']} at {prev['started']}")
    progress = run_dir / "progress.json"

    def on_epoch(row: dict) -> None:
        write_json(progress, {"epoch": row["epoch"] + 1, "epochs": cfg.train.epochs,
                              "val_top1_err": row["val_top1_err"], "time": time.time()})

    try:
        write_json(progress, {"epoch": 0, "epochs": cfg.train.epochs, "first_step":
                              None, "time": time.time()})
        metrics = train_run(
            cfg, run_dir, on_epoch=on_epoch, condition=spec["condition"],
            first_step=lambda: write_json(run_dir / "first_step.json", {"time": time.time()}),
            wandb_extra={"experiment_file": spec.get("source"),
                         "git_commit": prev.get("git_commit")})
    except Interrupted as why:
        update_status(run_dir, state="interrupted", ended=now(), reason=str(why))
        print(f"== interrupted ({why}); resumes from the last checkpoint")
        return EXIT_INTERRUPTED
    except BaseException as err:  # noqa: BLE001  (a job's failure must not reach the runner)
        tb = traceback.format_exc()
        print(tb)
        update_status(run_dir, state="failed", ended=now(), error=repr(err), traceback=tb,
                      log_tail=_log_tail(run_dir / "log.txt"))
        return EXIT_FAILED
    update_status(run_dir, state="done", ended=now(), device=metrics.get("device"),
                  wandb=metrics.get("wandb"), error=None, traceback=None, log_tail=None)
    return EXIT_DONE
