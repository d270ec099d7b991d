"""Job state on disk: ``status.json`` plus a lock file per run folder (no torch import).

States: ``new`` (no status yet), ``running``, ``done``, ``failed``, ``interrupted``.
A job process holds an exclusive ``flock`` on ``runs/<id>/.lock`` while it trains, so two
runners on one results folder never run the same job twice, and a ``running`` status whose
lock is free belongs to a process that died: it reads as ``interrupted``.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from spp_lab.runs import read_json, write_json

STATES = ("new", "running", "done", "failed", "interrupted")


class JobLock:
    """Non-blocking exclusive lock on ``<run_dir>/.lock``; released when the holder dies."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def held_elsewhere(self) -> bool:
        """True if another process holds the lock now."""
        if not self.path.exists():
            return False
        if self.acquire():
            self.release()
            return False
        return True


def read_status(run_dir: Path) -> dict[str, Any]:
    return read_json(run_dir / "status.json") or {"state": "new", "attempts": 0}


def job_state(run_dir: Path) -> str:
    """The job's state, with a dead ``running`` read as ``interrupted``."""
    status = read_status(run_dir)
    state = status.get("state", "new")
    if state == "done" and not (run_dir / "metrics.json").exists():
        return "interrupted"
    if state == "running" and not JobLock(run_dir).held_elsewhere():
        return "interrupted"
    return state


def update_status(run_dir: Path, **fields: Any) -> dict[str, Any]:
    status = read_status(run_dir) | fields
    write_json(run_dir / "status.json", status)
    return status
