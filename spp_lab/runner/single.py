"""One run from the command line (``spp-lab train``), run as the runner runs a job: under
its folder's lock, with ``status.json`` written through every state, so an interrupted run
says so and the same command resumes it. (Imports torch when called.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spp_lab.config import RunConfig
from spp_lab.errors import UserError
from spp_lab.runfolder import RunFolder


def train_one(cfg: RunConfig, on_epoch: Callable[[dict], None] | None = None,
              condition: str = "default", source: str | None = None) -> tuple[int, RunFolder]:
    """Train ``cfg`` (resolved) into its run folder; returns the job's exit code
    (:mod:`spp_lab.runner.executors.base`) and the folder. Ctrl-C or SIGTERM stops it as
    ``interrupted``; a user error is raised with its message after the status is written."""
    import torch

    from spp_lab.runner.executors.base import EXIT_BUSY, EXIT_USER, job_spec, next_attempt
    from spp_lab.runner.job import Job
    from spp_lab.runner.worker import execute, stop_on_signals
    from spp_lab.runs import run_id

    job = Job(run_id(cfg), condition, cfg.train.seed, {}, cfg)
    stop_on_signals()
    spec = job_spec(job, next_attempt(job), threads=cfg.train.threads or
                    torch.get_num_threads(), source=source)
    code = execute(spec, on_epoch=on_epoch)
    if code == EXIT_BUSY:
        raise UserError(f"run {job.run_id}: another process is training it now "
                        f"({job.folder.path}); wait for it, or see spp-lab ls")
    if code == EXIT_USER:
        raise UserError(job.folder.state().reason or "config error")
    return code, job.folder


def stopped_at(run: RunFolder) -> str:
    """``epoch 3 of 10 done`` from the run's progress (its last finished epoch)."""
    from spp_lab.fileio import read_json

    p: Any = read_json(run.progress) or {}
    return f"epoch {p.get('epoch', 0)} of {p.get('epochs', '?')} done"
