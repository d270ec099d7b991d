"""Forked worker processes for the report, where forking is safe (no torch).

A report reads thousands of run folders and draws a few charts, all independent pieces of
work, so with more than one CPU they run in forked processes: cheap, since the interpreter,
pandas and matplotlib are already loaded. Forking a process that runs other threads can
leave a child waiting forever on a lock one of them held, so with any other thread alive
(a notebook kernel's, a W&B run's) or without ``fork`` (Windows), the work stays in this
process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor


def cpus() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether forking is safe here: ``fork`` exists and no other thread is alive."""
    return threading.active_count() == 1 and "fork" in mp.get_all_start_methods()


def fork_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
