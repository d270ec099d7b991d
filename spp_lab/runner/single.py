"""One run, as the runner runs a job (under its folder's lock, ``status.json`` through every
state): ``spp-lab train`` (:func:`train_one`), and one job of an experiment file, as a W&B
sweep agent asks for it (:func:`train_job`). Imports torch when called."""

from __future__ import annotations

from collections.abc import Callable

from spp_lab.config import RunConfig
from spp_lab.errors import UserError
from spp_lab.results import RunFolder
from spp_lab.runner.job import Job


def _execute(job: Job, on_epoch: Callable[[dict], None] | None, source: str | None,
             attempt: int | None = None, threads: int | None = None) -> int:
    """Run ``job`` in this process (Ctrl-C and SIGTERM stop it as ``interrupted``) on
    ``threads`` CPU threads (default: ``train.threads``, else torch's own count)."""
    import torch

    from spp_lab.runner.executors.base import job_spec, next_attempt
    from spp_lab.runner.worker import execute, stop_on_signals

    stop_on_signals()
    threads = threads or job.config.train.threads or torch.get_num_threads()
    spec = job_spec(job, attempt or next_attempt(job), threads=threads, source=source)
    return execute(spec, on_epoch=on_epoch)


def train_one(cfg: RunConfig, on_epoch: Callable[[dict], None] | None = None) -> int:
    """Train ``cfg`` (resolved) into its run folder; the job's exit code
    (:mod:`spp_lab.runner.executors.base`). A user error is raised with its message after
    the status is written; another process holding the run is one too."""
    from spp_lab.runner.executors.base import EXIT_BUSY, EXIT_USER
    from spp_lab.runs import run_id

    job = Job(run_id(cfg), "default", cfg.train.seed, {}, cfg)
    code = _execute(job, on_epoch, None)
    if code == EXIT_BUSY:
        raise UserError(f"run {job.run_id}: another process is training it now "
                        f"({job.folder.path}); wait for it, or see spp-lab ls")
    if code == EXIT_USER:
        raise UserError(job.folder.state().reason or "config error")
    return code


def train_job(source: str, picks: list[str]) -> int:
    """``spp-lab train --experiment FILE condition=... seed=... key=value``: the one job of
    the file those values pick, run like the runner runs it (lock, status, W&B group);
    exit 0 for a job already done (a sweep agent re-sends points)."""
    from spp_lab.runner.executors.base import EXIT_DONE, EXIT_USER
    from spp_lab.runner.study import experiment_spec, open_study

    study = open_study(source, only=[",".join(picks)] if picks else [])
    if len(study.jobs) != 1:
        raise UserError(f"--experiment {source}: {' '.join(picks) or '(no values)'} picks "
                        f"{len(study.jobs)} jobs, not one; add condition=, seed= or grid "
                        f"values (spp-lab ls {source})")
    job = study.jobs[0]
    if study.states[job.run_id].state == "done":
        print(f"run {job.run_id} ({job.condition}, seed {job.seed}): already done "
              f"({job.folder.path}); nothing to do")
        return 0
    study.folder.path.mkdir(parents=True, exist_ok=True)
    study.folder.write_spec(experiment_spec(study))
    code = _execute(job, None, source, attempt=1, threads=job.config.train.threads or 1)
    state = job.folder.state()
    print(f"run {job.run_id} ({job.condition}, seed {job.seed}): {state.state}"
          + (f": {state.reason}" if state.reason else ""))
    return 0 if code == EXIT_DONE else 2 if code == EXIT_USER else 1


def stopped_at(run: RunFolder) -> str:
    """``epoch 3 of 10 done`` from the run's progress (its last finished epoch)."""
    from spp_lab.fileio import read_json

    p = read_json(run.progress) or {}
    return f"epoch {p.get('epoch', 0)} of {p.get('epochs', '?')} done"
