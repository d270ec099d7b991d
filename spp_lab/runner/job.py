"""One job of an experiment (torch-free): what the runner plans, hands an executor, and
settles; its run folder is ``job.folder``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from spp_lab.config import RunConfig
from spp_lab.results import RunFolder
from spp_lab.runs import run_dir


@dataclass
class Job:
    run_id: str
    condition: str
    seed: int
    values: dict[str, Any]  # dotted key → value, what differs from base (grid/zip/condition)
    config: RunConfig
    cell: tuple = field(default=())

    @cached_property
    def folder(self) -> RunFolder:
        """``results/<experiment>/runs/<run_id>/``."""
        return RunFolder(run_dir(self.config, self.run_id))
