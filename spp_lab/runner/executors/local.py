"""Run jobs on this machine's GPUs or CPUs, one fresh process per job.

Jobs start from a forkserver that has torch and Lightning preloaded (well under a second
instead of ~5 s). On GPUs, each job sees only its own device through
``CUDA_VISIBLE_DEVICES``, ``jobs_per_gpu`` at a time per GPU; on a CPU-only machine
``workers`` jobs run at once with the cores split between them. A failing job is retried up
to ``retries`` times and never stops the grid. SIGINT/SIGTERM stop cleanly: running jobs are
marked interrupted and resume from their last checkpoint on the next run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import deque
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from spp_lab.fileio import DISK_ERRORS
from spp_lab.runner.executors.base import (
    Outcome,
    RunOptions,
    cpu_count,
    job_spec,
    next_attempt,
    settle,
)
from spp_lab.runner.executors.registry import SHORTHAND, register_executor
from spp_lab.runner.job import Job
from spp_lab.runner.progress import Progress
from spp_lab.schema import PosInt, StrictModel, choice


def _gpu_text(v: Any) -> Any:
    """``0``, ``[0, 1]`` or ``"0,1"`` → ``"0,1"``."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return ",".join(map(str, v))
    return v


class LocalSettings(StrictModel):
    """The ``local:`` section, ``--local KEY=VALUE``; each key also a flag of its own."""

    workers: PosInt | None = Field(None, json_schema_extra=SHORTHAND,
                                   description="CPU jobs at once (default: cores / 2)")
    gpus: Annotated[str, BeforeValidator(_gpu_text)] | None = Field(
        None, json_schema_extra=SHORTHAND,
        description="GPU ids to use, e.g. 0,1 (default: all visible)")
    jobs_per_gpu: PosInt | None = Field(
        None, json_schema_extra=SHORTHAND,
        description="jobs sharing one GPU (default: as many as fit, runner/devices.py)")
    start_method: choice(("forkserver", "spawn")) = Field(
        "forkserver", description="forkserver: job processes start from one with torch "
                                  "preloaded (fast); spawn: each imports torch itself")


def _context(method: str = "forkserver") -> mp.context.BaseContext:
    """forkserver with torch preloaded (warm); "spawn" is the cold start, for benchmarks."""
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["spp_lab.runner.worker"])
    return ctx


def _start(proc: Any) -> None:
    """Start a job process that runs spp-lab's code only. multiprocessing would import the
    caller's script in it first (as ``__mp_main__``), so a ``run_experiment()`` at a script's
    top level, unguarded by ``if __name__ == "__main__":``, would start the grid again in
    every job; the script's ``__file__`` and ``__spec__`` are hidden while it starts."""
    import sys

    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__")
             if main is not None and k in main.__dict__}
    try:
        for k in saved:
            setattr(main, k, None)
        proc.start()
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


@register_executor("local", settings=LocalSettings)
class LocalExecutor:
    def __init__(self, gpus: list[str] | None = None, workers: int | None = None,
                 jobs_per_gpu: int = 1, retries: int = 1, source: str | None = None,
                 progress: Progress | None = None, start_method: str = "forkserver") -> None:
        self.gpus = list(gpus or [])
        cores = cpu_count()
        if self.gpus:
            self.slots: list[str | None] = [g for g in self.gpus for _ in range(jobs_per_gpu)]
        else:
            self.slots = [None] * (workers or max(1, cores // 2))
        self.threads = max(1, cores // len(self.slots))
        self.retries, self.progress = retries, progress or Progress(None)
        self.start_method, self.source = start_method, source
        self._stop: str | None = None

    @classmethod
    def from_options(cls, opts: RunOptions, jobs: list[Job]) -> LocalExecutor:
        from spp_lab.runner.devices import jobs_per_gpu, resolve_gpus

        s = opts.settings or LocalSettings()
        gpus = resolve_gpus(s.gpus)
        per_gpu = s.jobs_per_gpu or jobs_per_gpu(gpus, jobs)
        return cls(gpus=[g.id for g in gpus], workers=s.workers, jobs_per_gpu=per_gpu,
                   retries=opts.retries, source=opts.source, progress=opts.progress,
                   start_method=s.start_method)

    @staticmethod
    def target_gpus(settings: LocalSettings) -> list:
        """Where the jobs will run: the GPUs of this machine that ``gpus`` names."""
        from spp_lab.runner.devices import resolve_gpus

        return resolve_gpus(settings.gpus)

    def _on_signal(self, signum, frame) -> None:
        self._stop = signal.Signals(signum).name

    def run(self, jobs: list[Job]) -> Outcome:
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run(jobs)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _run(self, jobs: list[Job]) -> Outcome:
        self._ctx, self._out = _context(self.start_method), Outcome()
        if self.start_method == "forkserver" and jobs:
            warm = self._ctx.Process(target=_noop)  # returns once torch is preloaded (~4 s)
            _start(warm)
            warm.join()
        self._queue = deque((job, 1) for job in jobs)
        self._told: set[int] = set()  # job processes sent the stop signal
        self._free = list(range(len(self.slots)))
        self._running: dict[int, tuple[Any, Job, int]] = {}
        self.progress.start(jobs)
        while (self._queue and not self._stop) or self._running:
            self._launch()
            if self._stop:
                self._pass_on_stop()
            time.sleep(0.05)
            self._reap()
            self.progress.refresh()
        if self._stop:  # never started this time: they keep their state (new, interrupted)
            self._out.not_started += [job.run_id for job, _ in self._queue]
        self.progress.stop()
        return self._out

    def _launch(self) -> None:
        """Start queued jobs on the free slots (a job held by another runner is skipped)."""
        while self._queue and self._free and not self._stop:
            job, attempt = self._queue.popleft()
            try:
                job.folder.path.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                if err.errno not in DISK_ERRORS:
                    raise
                self._stop = self._out.stopped = f"{job.folder.path}: {err.strerror}"
                self._queue.appendleft((job, attempt))
                return
            if job.folder.lock.held_elsewhere():
                self._out.busy.append(job.run_id)
                self.progress.finish(job, "running elsewhere")
                continue
            slot = self._free.pop(0)
            spec = job_spec(job, next_attempt(job), gpu=self.slots[slot], threads=self.threads,
                            source=self.source, watch_pid=os.getpid())
            proc = self._ctx.Process(target=_entry, args=(spec,), name=f"spp-lab-{job.run_id}")
            _start(proc)
            self._running[slot] = (proc, job, attempt)
            self.progress.begin(job, job.folder.path)

    def _pass_on_stop(self) -> None:
        """The jobs get the signal the runner got (SIGINT or SIGTERM), once each: a job
        stops cleanly, in its own time."""
        name = self._stop or ""
        sig = getattr(signal, name, signal.SIGTERM) if name.startswith("SIG") else signal.SIGTERM
        for proc, _, _ in self._running.values():
            if proc.is_alive() and proc.pid is not None and proc.pid not in self._told:
                os.kill(proc.pid, sig)
                self._told.add(proc.pid)

    def _reap(self) -> None:
        """Settle the jobs whose process ended; queue a retry where one is due."""
        for slot, (proc, job, attempt) in list(self._running.items()):
            if proc.exitcode is None:
                continue
            del self._running[slot]
            self._free.append(slot)
            out = self._out
            try:
                retry = settle(proc.exitcode, job, attempt, self.retries, out, self.progress,
                               stopping=self._stop is not None)
            except OSError as err:
                if err.errno not in DISK_ERRORS:
                    raise
                retry, out.stopped = False, f"{job.folder.path}: {err.strerror}"
                out.interrupted.append(job.run_id)
            if out.stopped and not self._stop:
                self._stop = out.stopped
            if retry:
                self._queue.append((job, attempt + 1))


def _noop() -> None:
    pass


def _entry(spec: dict[str, Any]) -> None:
    from spp_lab.runner.worker import run_job

    run_job(spec)
