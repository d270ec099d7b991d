"""Run jobs as Ray tasks (``pip install spp-lab[ray]``), each with its CPU and GPU request.

Results land in the usual layout on a filesystem the cluster shares with the driver: each
task trains into ``results/<name>/runs/<run_id>/`` itself, under the same job lock, and
returns its exit code; failed jobs are retried like the local executor's.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from spp_lab.errors import UserError
from spp_lab.runner.executors.base import EXIT_FAILED, RunOptions
from spp_lab.runner.executors.registry import SHORTHAND, register_executor
from spp_lab.runner.executors.remote import RemoteExecutor, logged_execute
from spp_lab.runner.job import Job
from spp_lab.runner.progress import Progress
from spp_lab.schema import StrictModel

# Ray starts its workers at nice 15, so that its own processes stay responsive; a training
# job is the work itself, and at nice 15 any other process on the node (a second user's
# job, a build) takes nearly all of its CPU. Ray's job supervisor resets it the same way.
WORKER_NICENESS = "RAY_worker_niceness"


class RaySettings(StrictModel):
    """The ``ray:`` section, ``--ray KEY=VALUE``."""

    address: str | None = Field(None, json_schema_extra=SHORTHAND,
                                description="Ray cluster address (default: a local instance)")


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


@register_executor("ray", settings=RaySettings)
class RayExecutor(RemoteExecutor):
    def __init__(self, address: str | None = None, retries: int = 1, cpus_per_job: int = 1,
                 gpus_per_job: float | None = None, source: str | None = None,
                 progress: Progress | None = None) -> None:
        self.address, self.retries, self.source = address, retries, source
        self.threads, self.gpus = cpus_per_job, gpus_per_job
        self.progress = progress or Progress(None)

    @classmethod
    def from_options(cls, opts: RunOptions, jobs: list[Job]) -> RayExecutor:
        return cls(address=(opts.settings or RaySettings()).address, retries=opts.retries,
                   source=opts.source, progress=opts.progress)

    def _open(self) -> None:
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
        gpus = self.gpus if self.gpus is not None else (
            1 if ray.cluster_resources().get("GPU", 0) else 0)
        self._ray = ray
        self._task = ray.remote(logged_execute).options(
            num_cpus=self.threads, num_gpus=gpus, max_retries=0,
            runtime_env={"env_vars": {WORKER_NICENESS: "0"}})

    def _submit(self, spec: dict[str, Any]) -> Any:
        return self._task.remote(spec)

    def _ended(self, handles: list[Any]) -> list[Any]:
        return self._ray.wait(handles, num_returns=1, timeout=0.5)[0]

    def _exit_code(self, handle: Any) -> int:
        try:
            return self._ray.get(handle)
        except Exception:  # noqa: BLE001  (a lost worker is a failed attempt)
            return EXIT_FAILED

    def _close(self, pending: list[Any]) -> None:
        os.environ.pop("RAY_ADDRESS", None)  # pending tasks run on; a rerun finds them busy
