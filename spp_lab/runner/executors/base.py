"""What every executor shares (no torch): the job spec, the exit codes, settling an attempt.

An executor runs a list of :class:`~spp_lab.runner.experiment.Job` s, each in a process of
its own that calls :func:`spp_lab.runner.worker.execute` with :func:`job_spec`'s dict, and
returns an :class:`Outcome`. The job process writes its run folder itself, under the job's
lock; :func:`settle` turns its exit code into the next step (done, retry, give up, stop).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from spp_lab.fileio import disk_problem
from spp_lab.results import RunFolder
from spp_lab.runner.job import Job
from spp_lab.runner.progress import Progress
from spp_lab.runs import now

# Exit codes of a job process.
EXIT_DONE = 0
EXIT_FAILED = 1  # an error that may not happen again (retried)
EXIT_USER = 2  # a mistake in the config or the data that no retry fixes
EXIT_BUSY = 3  # another process holds the job
EXIT_INTERRUPTED = 4  # SIGTERM/SIGINT; resumes from its checkpoint on the next run
EXIT_DIVERGED = 5  # the loss became non-finite (deterministic: not retried)
EXIT_NO_SPACE = 6  # the disk is full or read-only: the grid stops
NOT_RETRIED = {EXIT_USER: "failed", EXIT_DIVERGED: "diverged"}


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # run id → one-line reason
    user_errors: list[str] = field(default_factory=list)  # failed on the config or the data
    not_started: list[str] = field(default_factory=list)  # queued when the grid stopped
    stopped: str | None = None  # why the grid stopped before every job ran


class Executor(Protocol):
    """Runs jobs; registered by name in :mod:`spp_lab.runner.executors`."""

    def run(self, jobs: list[Job]) -> Outcome: ...


@dataclass
class RunOptions:
    """What ``spp-lab run`` hands an executor (built by :func:`spp_lab.runner.waves.run_options`
    for the command line and the API alike)."""

    settings: BaseModel | None = None  # the executor's: its file section + flags on top
    retries: int = 1
    source: str | None = None  # the experiment file, for W&B
    progress: Progress | None = None


def job_spec(job: Job, attempt: int, *, gpu: str | None = None, threads: int = 1,
             source: str | None = None, watch_pid: int | None = None) -> dict[str, Any]:
    """The one description of a job attempt that every executor hands its job process."""
    from spp_lab import plugins

    return {"config": job.config.model_dump(mode="json"), "plugins": plugins.load(),
            "run_dir": str(job.folder.path.resolve()), "run_id": job.run_id,
            "condition": job.condition, "seed": job.seed, "attempt": attempt, "gpu": gpu,
            "threads": threads, "source": source, "dispatched_at": time.time(),
            "runner_pid": watch_pid}


def one_line(text: str | None, width: int = 160) -> str:
    """The last line of ``text``, stripped and cut to ``width``."""
    lines = [x.strip() for x in (text or "").splitlines() if x.strip()] or [""]
    return lines[-1] if len(lines[-1]) <= width else lines[-1][: width - 1] + "…"


def next_attempt(job: Job) -> int:
    """The attempt number the job's next run will have (its status counts them)."""
    try:
        return job.folder.status().get("attempts", 0) + 1
    except Exception:  # noqa: BLE001  (a corrupt status restarts the count)
        return 1


def settle(code: int, job: Job, attempt: int, retries: int, out: Outcome,
           progress: Progress, stopping: bool = False) -> bool:
    """Record one finished attempt from its exit code; True if it should be retried."""
    run = job.folder
    if code == EXIT_DONE:
        out.done.append(job.run_id)
        progress.finish(job, "done")
        return False
    if code == EXIT_BUSY:
        out.busy.append(job.run_id)
        progress.finish(job, "running elsewhere")
        return False
    if code == EXIT_NO_SPACE:
        out.interrupted.append(job.run_id)
        out.stopped = out.stopped or disk_problem(run.path)
        progress.finish(job, "interrupted")
        return False
    if code == EXIT_INTERRUPTED or stopping:
        if run.state().state in ("running", "interrupted"):
            run.update_status(state="interrupted", ended=now())
        out.interrupted.append(job.run_id)
        progress.finish(job, "interrupted")
        return False
    reason = _status_error(run)
    if reason is None:  # died without writing its own status
        reason = f"job process exited with code {code}"
        run.update_status(state="failed", ended=now(), error=reason)
    out.reasons[job.run_id] = one_line(reason)
    if code in NOT_RETRIED or attempt > retries:
        kind = NOT_RETRIED.get(code, "failed")
        if code == EXIT_USER:
            out.user_errors.append(job.run_id)
        (out.diverged if kind == "diverged" else out.failed).append(job.run_id)
        progress.finish(job, kind, reason=out.reasons[job.run_id])
        return False
    progress.finish(job, f"failed, retry {attempt}/{retries}", reason=out.reasons[job.run_id])
    return True


def _status_error(run: RunFolder) -> str | None:
    st = run.state()
    return st.reason if st.state in ("failed", "diverged") else None


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
