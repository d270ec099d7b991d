"""Run an experiment's jobs on local GPUs or CPUs, one fresh process per job.

Jobs start from a forkserver that has torch and Lightning preloaded (start well under a
second instead of ~5 s). One job per GPU by default (``jobs_per_gpu`` packs more), each
seeing only its own device through ``CUDA_VISIBLE_DEVICES``; on a CPU-only machine
``workers`` jobs run at once with the cores split between them. A failing job is retried
up to ``retries`` times and never stops the grid. SIGINT/SIGTERM stop cleanly: running jobs
are marked interrupted and resume from their last checkpoint on the next run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from spp_lab.runner.experiment import Job
from spp_lab.runner.progress import Progress
from spp_lab.runner.store import JobLock, job_state, read_status, update_status
from spp_lab.runs import now, run_dir, write_config

EXIT_BUSY, EXIT_INTERRUPTED = 3, 4


def detect_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else nvidia-smi's list."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)


def _context(method: str = "forkserver") -> mp.context.BaseContext:
    """forkserver with torch preloaded (warm); "spawn" is the cold start, for benchmarks."""
    ctx = mp.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["spp_lab.runner.worker"])
    return ctx


class LocalExecutor:
    def __init__(self, gpus: list[str] | None = None, workers: int | None = None,
                 source: str | None = None,
                 jobs_per_gpu: int = 1, retries: int = 1, progress: Progress | None = None,
                 start_method: str = "forkserver"):
        self.gpus = detect_gpus() if gpus is None else gpus
        cores = os.cpu_count() or 1
        if self.gpus:
            self.slots: list[str | None] = [g for g in self.gpus for _ in range(jobs_per_gpu)]
        else:
            self.slots = [None] * (workers or max(1, cores // 2))
        self.threads = max(1, cores // len(self.slots))
        self.retries, self.progress = retries, progress or Progress(None)
        self._stop: str | None = None
        self.start_method, self.source = start_method, source

    def _on_signal(self, signum, frame) -> None:
        self._stop = signal.Signals(signum).name

    def run(self, jobs: list[Job]) -> Outcome:
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run(jobs)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _spec(self, job: Job, attempt: int, gpu: str | None) -> dict[str, Any]:
        cfg = job.config.model_copy(deep=True)
        return {"config": cfg.model_dump(mode="json"), "run_dir": str(run_dir(cfg, job.run_id)),
                "run_id": job.run_id, "condition": job.condition, "seed": job.seed,
                "attempt": attempt, "gpu": gpu, "threads": self.threads,
                "dispatched_at": time.time(), "runner_pid": os.getpid(),
                "source": self.source}

    def _run(self, jobs: list[Job]) -> Outcome:
        ctx, out = _context(self.start_method), Outcome()
        t0 = time.time()
        if self.start_method == "forkserver" and jobs:
            warm = ctx.Process(target=_noop)  # returns once torch is preloaded (~4 s, once)
            warm.start()
            warm.join()
        self.warmup_s = time.time() - t0
        queue = deque((job, 1) for job in jobs)
        free = list(range(len(self.slots)))
        running: dict[int, tuple[Any, Job, int]] = {}
        self.progress.start(jobs)
        while (queue and not self._stop) or running:
            while queue and free and not self._stop:
                job, attempt = queue.popleft()
                rdir = run_dir(job.config, job.run_id)
                if JobLock(rdir).held_elsewhere():
                    out.busy.append(job.run_id)
                    self.progress.finish(job, "running elsewhere")
                    continue
                write_config(rdir / "config.yaml", job.config)
                attempts = read_status(rdir).get("attempts", 0) + 1
                slot = free.pop(0)
                proc = ctx.Process(target=_entry, args=(self._spec(job, attempts, self.slots[
                    slot]),), name=f"spp-lab-{job.run_id}")
                proc.start()
                running[slot] = (proc, job, attempt)
                self.progress.begin(job, rdir)
            if self._stop:
                for proc, _, _ in running.values():
                    if proc.is_alive():
                        proc.terminate()
            time.sleep(0.05)
            for slot, (proc, job, attempt) in list(running.items()):
                if proc.exitcode is None:
                    continue
                del running[slot]
                free.append(slot)
                if settle(proc.exitcode, job, attempt, self.retries, out, self.progress,
                          stopping=self._stop is not None):
                    queue.append((job, attempt + 1))
            self.progress.refresh()
        out.interrupted += [job.run_id for job, _ in queue] if self._stop else []
        self.progress.stop()
        return out


def settle(code: int, job: Job, attempt: int, retries: int, out: Outcome,
           progress: Progress, stopping: bool = False) -> bool:
    """Record one finished attempt from its exit code; True if it should be retried."""
    rdir = run_dir(job.config, job.run_id)
    if code == 0:
        out.done.append(job.run_id)
        progress.finish(job, "done")
        return False
    if code == EXIT_BUSY:
        out.busy.append(job.run_id)
        progress.finish(job, "running elsewhere")
        return False
    if code == EXIT_INTERRUPTED or stopping:
        if read_status(rdir).get("state") == "running":
            update_status(rdir, state="interrupted", ended=now())
        out.interrupted.append(job.run_id)
        progress.finish(job, "interrupted")
        return False
    if job_state(rdir) != "failed":  # died without writing its own status
        update_status(rdir, state="failed", ended=now(),
                      error=f"job process exited with code {code}")
    if attempt <= retries:
        progress.finish(job, f"failed, retry {attempt}/{retries}")
        return True
    out.failed.append(job.run_id)
    progress.finish(job, "failed")
    return False


def _noop() -> None:
    pass


def _entry(spec: dict[str, Any]) -> None:
    from spp_lab.runner.worker import run_job

    run_job(spec)
