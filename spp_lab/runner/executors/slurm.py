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

from pydantic import Field

from spp_lab.errors import UserError
from spp_lab.runner.executors.base import EXIT_FAILED, RunOptions
from spp_lab.runner.executors.registry import register_executor
from spp_lab.runner.executors.remote import RemoteExecutor, logged_execute
from spp_lab.runner.job import Job
from spp_lab.runner.progress import Progress
from spp_lab.schema import NonNegInt, PosInt, StrictModel, choice


class SlurmSettings(StrictModel):
    """The ``slurm:`` section, ``--slurm KEY=VALUE``: what each grid job asks Slurm for."""

    partition: str | None = Field(None, description="Slurm partition (default: the cluster's)")
    time_min: PosInt = Field(60, description="time limit, minutes")
    gpus: NonNegInt = Field(0, description="GPUs per job")
    cpus: PosInt = Field(2, description="CPU cores per job")
    mem_gb: PosInt = Field(16, description="memory per job, GB")
    cluster: choice(("slurm", "local")) = Field(
        "slurm", description="slurm; or local: the same path through submitit's local "
                             "executor, without a cluster")
    poll_s: float = Field(2.0, gt=0, description="seconds between job state checks")


def _slurm_task(spec: dict[str, Any]) -> int:
    """What a Slurm job runs; ``scancel`` (or Ctrl-C on the submitting runner) marks the job
    interrupted, to resume from its checkpoint."""
    return logged_execute(spec, stop_on_sigterm=True)


@register_executor("slurm", settings=SlurmSettings)
class SlurmExecutor(RemoteExecutor):
    def __init__(self, folder: Path, settings: dict[str, Any], retries: int = 1,
                 source: str | None = None, progress: Progress | None = None,
                 poll_s: float = 2.0) -> None:
        self.folder, self.settings, self.retries = folder, dict(settings), retries
        self.source, self.progress, self.poll_s = source, progress or Progress(None), poll_s
        self.threads, self._gone = self.settings.get("cpus", 2), {}

    @classmethod
    def from_options(cls, opts: RunOptions, jobs: list[Job]) -> SlurmExecutor:
        from spp_lab.results import ExperimentFolder

        folder = ExperimentFolder.of(jobs[0].config).slurm
        s = opts.settings or SlurmSettings()
        return cls(folder, s.model_dump(), retries=opts.retries, source=opts.source,
                   progress=opts.progress, poll_s=s.poll_s)

    def _open(self) -> None:
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
        self._ex = ex

    def _submit(self, spec: dict[str, Any]) -> Any:
        return self._ex.submit(_slurm_task, spec)

    def _ended(self, handles: list[Any]) -> list[Any]:
        time.sleep(self.poll_s)
        return [j for j in handles if self._job_ended(j)]

    def _job_ended(self, sjob: Any) -> bool:
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
        self._gone[sjob] = self._gone.get(sjob, 0) + 1 if missing else 0
        return self._gone[sjob] >= 2

    def _exit_code(self, sjob: Any) -> int:
        if not sjob.paths.result_pickle.exists():
            return EXIT_FAILED  # no result: a lost node, a time limit, a kill
        try:
            return int(sjob.result())
        except Exception:  # noqa: BLE001  (the job raised)
            return EXIT_FAILED

    def _close(self, pending: list[Any]) -> None:
        for sjob in pending:
            sjob.cancel(check=False)
