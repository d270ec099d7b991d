"""The results folders (no torch): every path, and reading a run's state once.

    results/<experiment>/               ExperimentFolder
      experiment.json                   ExperimentSpec: conditions, report settings, run ids
      seed_plan.json                    a seed rule's decisions
      runs/<run_id>/                    RunFolder, one per job
        config.yaml  config.json  status.json  metrics.json  history.csv  progress.json
        first_step.json  log.txt  .lock  checkpoints/last.ckpt
      runs.csv  runs.parquet  report/  wandb/

No other module spells one of these names. Every write is atomic (:mod:`spp_lab.fileio`),
so a crash or a full disk leaves the old file or the new one, never half of one; a file
that fails its schema reads as ``corrupt``, with the file and why. Nothing here unpickles or
evaluates what it reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from spp_lab.fileio import Corrupt, JobLock, read_mapping, read_model, write_atomic, write_json
from spp_lab.results.history import read_history
from spp_lab.results.history import write_history as _write_history
from spp_lab.results.schemas import ExperimentSpec, Metrics, Status
from spp_lab.results.states import RunState

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def config_text(data: dict[str, Any]) -> str:
    """A config as the YAML of ``config.yaml``: keys in the order of the config models."""
    return yaml.safe_dump(data, sort_keys=False)


class _In:
    """A file of a results folder by name: ``folder.<attr>`` is ``folder.path / name``, built
    on first use (a report over 10,000 run folders touches few of each one's files)."""

    def __init__(self, *parts: str) -> None:
        self.parts, self.name = parts, parts[-1]

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, folder: Any, owner: type | None = None) -> Any:
        if folder is None:  # looked up on the class
            return self
        path = folder.path.joinpath(*self.parts)
        folder.__dict__[self.attr] = path  # cached: later reads skip the descriptor
        return path


@dataclass(frozen=True)
class Snapshot:
    """One read of a run folder: its state and the status, metrics and history rows it was
    judged from (no metrics and no history from a run judged corrupt)."""

    state: RunState
    status: dict[str, Any]
    metrics: dict[str, Any] | None
    history: list[dict[str, Any]] | None = None  # a run not done: None if unreadable


class RunFolder:
    """``results/<experiment>/runs/<run_id>/``: its files, state, validated reads, reset."""

    config, config_json = _In("config.yaml"), _In("config.json")
    status_file, metrics_file = _In("status.json"), _In("metrics.json")
    history, progress = _In("history.csv"), _In("progress.json")
    first_step, log = _In("first_step.json"), _In("log.txt")
    checkpoints, last_ckpt = _In("checkpoints"), _In("checkpoints", "last.ckpt")
    lock_file = _In(".lock")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @cached_property
    def lock(self) -> JobLock:
        return JobLock(self.lock_file)

    @property
    def run_id(self) -> str:
        return self.path.name

    def status(self) -> dict[str, Any]:
        """``status.json`` as a dict (``{"state": "new"}`` when absent); Corrupt if invalid."""
        st = read_model(self.status_file, Status)
        return {"state": "new", "attempts": 0} if st is None else st.model_dump()

    def metrics(self) -> dict[str, Any] | None:
        """``metrics.json`` validated (finite numbers, errors in [0, 100]); Corrupt if not."""
        m = read_model(self.metrics_file, Metrics)
        return None if m is None else m.model_dump()

    def state(self) -> RunState:
        """The job's state as the runner and the report see it (never raises)."""
        return self.read().state

    def read(self) -> Snapshot:
        """State, status, metrics and history from one read of each file (never raises)."""
        status: dict[str, Any] = {}
        metrics = history = None
        try:
            status = self.status()
            state = status["state"]
            if state == "done":
                metrics = self.metrics()
                if metrics is None:
                    return Snapshot(RunState("corrupt", f"{self.metrics_file}: missing for a "
                                             "done run"), status, None)
                history = self.history_rows()
                if len(history) != metrics["epochs"]:
                    raise Corrupt(self.history, f"{len(history)} rows for the "
                                  f"{metrics['epochs']} epochs of metrics.json")
        except Corrupt as err:  # no numbers from a run judged corrupt
            return Snapshot(RunState("corrupt", str(err)), status, None)
        except OSError as err:
            return Snapshot(RunState("corrupt", f"{self.path}: unreadable ({err.strerror})"),
                            status, None)
        if history is None:  # a run not done yet: its epochs so far, if readable
            with contextlib.suppress(Corrupt, OSError):
                history = self.history_rows()
        if state == "running" and not self.lock.held_elsewhere():
            return Snapshot(RunState("interrupted", "its process ended without writing a "
                                     "status"), status, None, history)
        reason = status.get("error") if state in ("failed", "diverged") else None
        return Snapshot(RunState(state, reason), status, metrics, history)

    def update_status(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into ``status.json``; a corrupt one is replaced, not merged."""
        try:
            status = self.status()
        except Corrupt:
            status = {"state": "new", "attempts": 0}
        status |= fields
        write_json(self.status_file, status)
        return status

    def history_rows(self) -> list[dict[str, Any]]:
        """``history.csv``'s rows (:func:`~spp_lab.results.history.read_history`)."""
        return read_history(self.history)

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        _write_history(self.history, rows)

    def write_config(self, data: dict[str, Any]) -> None:
        """The resolved config twice: ``config.yaml`` for people (``spp-lab train`` takes it
        back) and ``config.json`` for programs (JSON parses about 20× faster than YAML,
        which a report over 10,000 runs feels)."""
        write_atomic(self.config_json, json.dumps(data, indent=2, allow_nan=False) + "\n")
        write_atomic(self.config, config_text(data))  # both in the config models' key order

    def read_config(self, fast: bool = True) -> dict[str, Any]:
        """The config as a mapping (validated by its reader; ``{}`` when there is none):
        ``config.json`` when ``fast`` and present, else ``config.yaml`` (what people edit,
        and all that folders written before ``config.json`` hold); Corrupt if unreadable."""
        data = read_mapping(self.config_json, json.loads, "JSON") if fast else None
        if data is None:
            data = read_mapping(self.config, lambda raw: yaml.load(raw, Loader=_Loader),
                                 "YAML")
        return data if data is not None else {}

    def reset(self) -> None:
        """Forget every result of the run (``--force``); its config and log stay."""
        for f in (self.metrics_file, self.history, self.status_file, self.progress,
                  self.first_step):
            f.unlink(missing_ok=True)
        shutil.rmtree(self.checkpoints, ignore_errors=True)



class ExperimentFolder:
    """``results/<experiment>/``: its spec, its run folders, its report outputs."""

    spec_file, runs_dir, report_dir = _In("experiment.json"), _In("runs"), _In("report")
    wandb_dir, runs_csv, runs_parquet = _In("wandb"), _In("runs.csv"), _In("runs.parquet")
    slurm, experiment_yaml = _In("slurm"), _In("experiment.yaml")  # -m: the file it stands for
    seed_plan = _In("seed_plan.json")  # a seed rule's decisions (spp_lab.stopping.SeedPlan)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def of(cls, cfg: Any) -> ExperimentFolder:
        """The folder of a run config: ``<output_dir>/<experiment>``."""
        return cls(Path(cfg.output_dir) / cfg.experiment)

    def run(self, run_id: str) -> RunFolder:
        return RunFolder(self.runs_dir / run_id)

    def exists(self) -> bool:
        return self.runs_dir.is_dir()

    def spec(self) -> ExperimentSpec:
        """The saved spec; a folder without one reports every run folder in it."""
        spec = read_model(self.spec_file, ExperimentSpec)
        return spec if spec is not None else ExperimentSpec(name=self.path.name)

    def write_spec(self, spec: ExperimentSpec) -> None:
        write_json(self.spec_file, spec.model_dump(mode="json"))

    def run_folders(self, current_only: bool = True) -> tuple[list[RunFolder], int]:
        """Run folders sorted by id, and how many were left out as not current."""
        try:
            with os.scandir(self.runs_dir) as entries:  # d_type: no stat per folder
                found = sorted(e.name for e in entries
                               if e.is_dir() and not e.name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            found = []
        ids = self.spec().run_ids if current_only else None
        wanted = None if ids is None else set(ids)
        keep = found if wanted is None else [r for r in found if r in wanted]
        return [self.run(r) for r in keep], len(found) - len(keep)
