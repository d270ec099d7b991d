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

from spp_lab.runner.local import Outcome, settle
from spp_lab.runner.progress import Progress
from spp_lab.runs import run_dir


def _ray_task(spec: dict[str, Any]) -> int:
    from spp_lab.runner.worker import execute

    rdir = Path(spec["run_dir"])
    rdir.mkdir(parents=True, exist_ok=True)
    with open(rdir / "log.txt", "a", buffering=1) as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        return execute(spec)


class RayExecutor:
    def __init__(self, address: str | None = None, retries: int = 1, cpus_per_job: int = 1,
                 gpus_per_job: float | None = None, progress: Progress | None = None) -> None:
        self.address, self.retries = address, retries
        self.cpus, self.gpus = cpus_per_job, gpus_per_job
        self.progress = progress or Progress(None)

    def run(self, jobs: list) -> Outcome:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False, include_dashboard=False)
        gpus = self.gpus if self.gpus is not None else (
            1 if ray.cluster_resources().get("GPU", 0) else 0)
        task = ray.remote(_ray_task).options(num_cpus=self.cpus, num_gpus=gpus, max_retries=0)
        out, pending = Outcome(), {}
        self.progress.start(jobs)

        def submit(job, attempt):
            cfg = job.config
            spec = {"config": cfg.model_dump(mode="json"), "run_dir": str(
                    run_dir(cfg, job.run_id).resolve()), "run_id": job.run_id,
                    "condition": job.condition, "seed": job.seed, "attempt": attempt,
                    "gpu": None, "threads": self.cpus, "dispatched_at": 0.0}
            run_dir(cfg, job.run_id).mkdir(parents=True, exist_ok=True)
            pending[task.remote(spec)] = (job, attempt)
            self.progress.begin(job, run_dir(cfg, job.run_id))

        for job in jobs:
            submit(job, 1)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            self.progress.refresh()
            for ref in ready:
                job, attempt = pending.pop(ref)
                try:
                    code = ray.get(ref)
                except Exception:  # noqa: BLE001  (a lost worker counts as a failed attempt)
                    code = 1
                if settle(code, job, attempt, self.retries, out, self.progress):
                    submit(job, attempt + 1)
        self.progress.stop()
        os.environ.pop("RAY_ADDRESS", None)
        return out
