"""Run jobs on a Slurm cluster through submitit (``pip install spp-lab[slurm]``), the
engine behind Hydra's Slurm launcher: one Slurm job per grid job, with the partition, time
limit, GPUs, CPUs and memory of the experiment file's ``slurm:`` section or ``--slurm
key=value`` flags.

Each Slurm job runs :func:`spp_lab.runner.worker.execute` on a filesystem the cluster
shares with the submitting machine: the same run folder, lock, checkpoints and resume as a
local job; failed jobs are retried and settled by the same rules. submitit keeps its own
files (the submission script, the job's stdout) under ``results/<name>/slurm/``.
``cluster: local`` runs the same code path with submitit's local executor (the tests do).
"""

from __future__ import annotations

import time
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


def _slurm_task(spec: dict[str, Any]) -> int:
    """What a Slurm job runs: the grid job, logging into its run folder; ``scancel`` (or
    Ctrl-C on the submitting runner) marks it interrupted, to resume from its checkpoint."""
    import contextlib
    import signal

    from spp_lab.runner.worker import _raise_interrupted, execute

    signal.signal(signal.SIGTERM, _raise_interrupted)

    rdir = Path(spec["run_dir"])
    rdir.mkdir(parents=True, exist_ok=True)
    with open(rdir / "log.txt", "a", buffering=1) as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        return execute(spec)


@register_executor("slurm")
class SlurmExecutor:
    def __init__(self, folder: Path, settings: dict[str, Any], retries: int = 1,
                 source: str | None = None, progress: Progress | None = None,
                 poll_s: float = 2.0) -> None:
        self.folder, self.settings, self.retries = folder, dict(settings), retries
        self.source, self.progress, self.poll_s = source, progress or Progress(None), poll_s

    @classmethod
    def from_options(cls, opts: RunOptions, jobs: list[Any]) -> SlurmExecutor:
        cfg = jobs[0].config
        folder = Path(cfg.output_dir) / cfg.experiment / "slurm"
        return cls(folder, opts.slurm, retries=opts.retries, source=opts.source,
                   progress=opts.progress, poll_s=opts.slurm.get("poll_s", 2.0))

    def _executor(self):
        try:
            import submitit
        except ImportError:
            raise UserError("--executor slurm: submitit is not installed; pip install "
                            "'spp-lab[slurm]'") from None
        s = self.settings
        cluster = s.get("cluster", "slurm")
        if cluster == "slurm":
            import shutil

            if shutil.which("sbatch") is None:
                raise UserError("--executor slurm: no sbatch on this machine's PATH; submit "
                                "from a Slurm login node (or set slurm.cluster: local)")
        ex = submitit.AutoExecutor(folder=self.folder / "%j", cluster=cluster)
        params = {"timeout_min": s.get("time_min", 60), "cpus_per_task": s.get("cpus", 2),
                  "gpus_per_node": s.get("gpus", 0), "mem_gb": s.get("mem_gb", 16),
                  "name": "spp-lab"}
        if s.get("partition"):
            params["slurm_partition"] = s["partition"]
        ex.update_parameters(**params)
        return ex

    def _ended(self, sjob: Any, gone: dict[Any, int]) -> bool:
        """Finished: a result file, or Slurm's word, or (on a cluster without accounting,
        where submitit cannot tell a failed job) the job missing from squeue twice in a row."""
        if sjob.done():
            return True
        if self.settings.get("cluster", "slurm") != "slurm":
            return False
        import subprocess

        q = subprocess.run(["squeue", "-h", "-j", str(sjob.job_id), "-o", "%T"],
                           capture_output=True, text=True)
        missing = (q.returncode == 0 and not q.stdout.strip()) or "Invalid job id" in q.stderr
        gone[sjob] = gone.get(sjob, 0) + 1 if missing else 0
        return gone[sjob] >= 2

    def run(self, jobs: list[Any]) -> Outcome:
        ex, out, pending = self._executor(), Outcome(), {}
        self.progress.start(jobs)

        def submit(job, attempt):
            spec = job_spec(job, next_attempt(job), threads=self.settings.get("cpus", 2),
                            source=self.source)
            run_dir(job.config, job.run_id).mkdir(parents=True, exist_ok=True)
            pending[ex.submit(_slurm_task, spec)] = (job, attempt)
            self.progress.begin(job, run_dir(job.config, job.run_id))

        try:
            for job in jobs:
                submit(job, 1)
            gone: dict[Any, int] = {}
            while pending:
                time.sleep(self.poll_s)
                self.progress.refresh()
                for sjob in [j for j in pending if self._ended(j, gone)]:
                    job, attempt = pending.pop(sjob)
                    code = EXIT_FAILED  # no result: a lost node, a time limit, a kill
                    if sjob.paths.result_pickle.exists():
                        try:
                            code = int(sjob.result())
                        except Exception:  # noqa: BLE001  (the job raised)
                            code = EXIT_FAILED
                    if settle(code, job, attempt, self.retries, out, self.progress):
                        submit(job, attempt + 1)
        finally:
            for sjob in pending:
                sjob.cancel(check=False)
            self.progress.stop()
        return out
