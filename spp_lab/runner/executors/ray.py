"""Run jobs as Ray tasks (``pip install spp-lab[ray]``), each with its CPU and GPU request.

Results land in the usual layout on a filesystem the cluster shares with the driver: each
task trains into ``results/<name>/runs/<run_id>/`` itself, under the same job lock, and
returns its exit code; failed jobs are retried like the local executor's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from spp_lab.errors import UserError
from spp_lab.runner.executors import register_executor
from spp_lab.runner.executors.base import (
    EXIT_FAILED,
    Outcome,
    RunOptions,
    job_spec,
    next_attempt,
    settle,
)
from spp_lab.runner.progress import Progress
from spp_lab.runs import run_dir


def _ray_task(spec: dict[str, Any]) -> int:
    from spp_lab.runner.worker import execute

    rdir = Path(spec["run_dir"])
    rdir.mkdir(parents=True, exist_ok=True)
    with open(rdir / "log.txt", "a", buffering=1) as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        return execute(spec)


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on an address nothing listens at (``ray.init`` retries for minutes)."""
    import socket

    hostport = address.split("://")[-1]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout):
            return
    except (OSError, ValueError) as err:
        raise UserError(f"--address {address}: no Ray cluster reachable there "
                        f"({type(err).__name__}: {err}); start one with `ray start --head` "
                        "or leave --address out for a local instance") from None


@register_executor("ray")
class RayExecutor:
    def __init__(self, address: str | None = None, retries: int = 1, cpus_per_job: int = 1,
                 gpus_per_job: float | None = None, source: str | None = None,
                 progress: Progress | None = None) -> None:
        self.address, self.retries, self.source = address, retries, source
        self.cpus, self.gpus = cpus_per_job, gpus_per_job
        self.progress = progress or Progress(None)

    @classmethod
    def from_options(cls, opts: RunOptions, jobs: list[Any]) -> RayExecutor:
        return cls(address=opts.address, retries=opts.retries, source=opts.source,
                   progress=opts.progress)

    def _connect(self):
        if self.address and self.address != "auto":
            _reachable(self.address)
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray: Ray is not installed; pip install "
                            "'spp-lab[ray]'") from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, log_to_driver=False, include_dashboard=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = self.address or "a new local instance"
                raise UserError(f"--address {where}: no Ray cluster reachable there "
                                f"({type(err).__name__}: {str(err)[:200]})") from None
        return ray

    def run(self, jobs: list[Any]) -> Outcome:
        ray = self._connect()
        gpus = self.gpus if self.gpus is not None else (
            1 if ray.cluster_resources().get("GPU", 0) else 0)
        task = ray.remote(_ray_task).options(num_cpus=self.cpus, num_gpus=gpus, max_retries=0)
        out, pending = Outcome(), {}
        self.progress.start(jobs)

        def submit(job, attempt):
            spec = job_spec(job, next_attempt(job), threads=self.cpus, source=self.source)
            run_dir(job.config, job.run_id).mkdir(parents=True, exist_ok=True)
            pending[task.remote(spec)] = (job, attempt)
            self.progress.begin(job, run_dir(job.config, job.run_id))

        try:
            for job in jobs:
                submit(job, 1)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                self.progress.refresh()
                for ref in ready:
                    job, attempt = pending.pop(ref)
                    try:
                        code = ray.get(ref)
                    except Exception:  # noqa: BLE001  (a lost worker is a failed attempt)
                        code = EXIT_FAILED
                    if settle(code, job, attempt, self.retries, out, self.progress):
                        submit(job, attempt + 1)
        finally:
            self.progress.stop()
            os.environ.pop("RAY_ADDRESS", None)
        return out
