"""A toy executor with one setting: each job in a spawned process pool."""

from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from pydantic import Field

from spp_lab.runner.executors import register_executor
from spp_lab.runner.executors.remote import RemoteExecutor, logged_execute
from spp_lab.runner.progress import Progress
from spp_lab.schema import PosInt, StrictModel


class ToySettings(StrictModel):
    max_jobs: PosInt = Field(1, description="jobs at once")


@register_executor("toy", settings=ToySettings)
class ToyExecutor(RemoteExecutor):
    """Each job in a process of a spawned pool of ``max_jobs``."""

    def __init__(self, max_jobs, retries, source, progress):
        self.max_jobs, self.retries, self.source = max_jobs, retries, source
        self.progress = progress or Progress(None)

    @classmethod
    def from_options(cls, opts, jobs):
        return cls(opts.settings.max_jobs, opts.retries, opts.source, opts.progress)

    def _open(self):
        import multiprocessing as mp

        print(f"toy executor: {self.max_jobs} at once", flush=True)
        self.pool = ProcessPoolExecutor(self.max_jobs, mp_context=mp.get_context("spawn"))

    def _submit(self, spec):
        return self.pool.submit(logged_execute, spec)

    def _ended(self, handles):
        return list(wait(handles, timeout=0.5, return_when=FIRST_COMPLETED).done)

    def _exit_code(self, handle):
        return handle.result()

    def _close(self, pending):
        self.pool.shutdown(cancel_futures=True)
