"""The job states of a run folder and their counts (no torch): what ``ls``, the end of a
run, ``runs.csv`` and the report share.

``new`` (no status yet) → ``running`` → ``done`` | ``failed`` | ``diverged`` (the loss became
non-finite; never a result) | ``interrupted``. Read back, a ``running`` status whose lock is
free belongs to a dead process and reads as ``interrupted``; a file that fails its schema
(truncated, binary, edited) reads as ``corrupt`` with the file and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

STATES = ("new", "running", "done", "failed", "diverged", "interrupted", "corrupt")


def count_states(states: Iterable[str]) -> dict[str, int]:
    """How many jobs are in each state, in :data:`STATES`' order: the one count that ``ls``,
    the end of a run, ``runs.csv`` and the report share."""
    found = list(states)
    return {s: found.count(s) for s in STATES}


def counts_text(counts: dict[str, int]) -> str:
    """``13 done, 1 failed, 6 new``: the states that have jobs, in :data:`STATES`' order."""
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v)


@dataclass(frozen=True)
class RunState:
    """A job's state as read from its folder, with why where it says something."""

    state: str
    reason: str | None = None  # why: a failed job's error, the corrupt file, ...
