"""The loop of executors whose jobs run in processes they do not own (Ray tasks, Slurm jobs).

Submit every job; until none is pending, poll for the ones that ended, read each one's exit
code, :func:`~spp_lab.runner.executors.base.settle` it and resubmit a retry; on the way out
(done, Ctrl-C or an error), cancel what is still pending. A subclass says how to submit,
poll, read an exit code and cancel; the job process is :func:`logged_execute` everywhere.
"""

from __future__ import annotations

from typing import Any

from spp_lab.runner.executors.base import Outcome, job_spec, next_attempt, settle
from spp_lab.runner.job import Job
from spp_lab.runner.progress import Progress


def logged_execute(spec: dict[str, Any], stop_on_sigterm: bool = False) -> int:
    """What a remote job process runs: the grid job, its output appended to the run folder's
    ``log.txt``. ``stop_on_sigterm``: SIGTERM (``scancel``) interrupts the job cleanly, to
    resume from its checkpoint."""
    import contextlib

    from spp_lab.runner.worker import _raise_interrupted, execute

    if stop_on_sigterm:
        import signal

        signal.signal(signal.SIGTERM, _raise_interrupted)
    from spp_lab.results import RunFolder

    run = RunFolder(spec["run_dir"])
    run.path.mkdir(parents=True, exist_ok=True)
    with (open(run.log, "a", buffering=1) as log, contextlib.redirect_stdout(log),
          contextlib.redirect_stderr(log)):
        return execute(spec)


class RemoteExecutor:
    """Submit, poll, settle, retry; subclasses fill in the five methods below."""

    retries: int = 1
    threads: int = 1  # torch threads of each job (its CPU request)
    source: str | None = None  # the experiment file, for W&B
    progress: Progress

    def _open(self) -> None:
        """Connect or check the cluster before anything is submitted."""

    def _submit(self, spec: dict[str, Any]) -> Any:
        """Start one job attempt from its spec; a hashable handle to poll."""
        raise NotImplementedError

    def _ended(self, handles: list[Any]) -> list[Any]:
        """The handles whose jobs have ended (may wait a little before answering)."""
        raise NotImplementedError

    def _exit_code(self, handle: Any) -> int:
        """An ended job's exit code (EXIT_FAILED when the job left none)."""
        raise NotImplementedError

    def _close(self, pending: list[Any]) -> None:
        """Cancel the jobs still pending when the loop ends early; release the cluster."""

    def run(self, jobs: list[Job]) -> Outcome:
        self._open()
        out, pending = Outcome(), {}
        self.progress.start(jobs)

        def submit(job: Job, attempt: int) -> None:
            spec = job_spec(job, next_attempt(job), threads=self.threads, source=self.source)
            job.folder.path.mkdir(parents=True, exist_ok=True)
            pending[self._submit(spec)] = (job, attempt)
            self.progress.begin(job, job.folder.path)

        try:
            for job in jobs:
                submit(job, 1)
            while pending:
                ended = self._ended(list(pending))
                self.progress.refresh()
                for handle in ended:
                    job, attempt = pending.pop(handle)
                    code = self._exit_code(handle)
                    if settle(code, job, attempt, self.retries, out, self.progress):
                        submit(job, attempt + 1)
        finally:
            self._close(list(pending))
            self.progress.stop()
        return out
