"""The run-folder contract: every path, every file's schema, the job state machine (no torch).

    results/<experiment>/               ExperimentFolder
      experiment.json                   ExperimentSpec: conditions, report settings, run ids
      runs/<run_id>/                    RunFolder, one per job
        config.yaml  config.json  status.json  metrics.json  history.csv  progress.json
        first_step.json  log.txt  .lock  checkpoints/last.ckpt
      runs.csv  runs.parquet  report/  wandb/

States (``status.json``'s ``state``): ``new`` (no status yet) → ``running`` → ``done`` |
``failed`` | ``diverged`` (the loss became non-finite; never a result) | ``interrupted``.
Read back, a ``running`` status whose lock is free belongs to a dead process and reads as
``interrupted``; a file that fails its schema (truncated, binary, edited) reads as
``corrupt`` with the file and the reason, and the job reruns. Every write is atomic
(:mod:`spp_lab.fileio`), so a crash or a full disk leaves the old file or the new one, never
half of one. Nothing here unpickles or evaluates what it reads.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spp_lab.fileio import Corrupt, JobLock, read_mapping, read_model, write_atomic, write_json
from spp_lab.metrics import get_metric, history_columns

STATES = ("new", "running", "done", "failed", "diverged", "interrupted", "corrupt")
TEXT_COLUMNS = ("train_size",)


def count_states(states: Iterable[str]) -> dict[str, int]:
    """How many jobs are in each state, in :data:`STATES`' order: the one count that ``ls``,
    the end of a run, ``runs.csv`` and the report share."""
    found = list(states)
    return {s: found.count(s) for s in STATES}


def counts_text(counts: dict[str, int]) -> str:
    """``13 done, 1 failed, 6 new``: the states that have jobs, in :data:`STATES`' order."""
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v)
  # 24, or 24/32 for multi-size epochs


def history_fields() -> tuple[str, ...]:
    """``history.csv``'s columns: the epoch and its training sizes, each registered
    measure of training and validation (:mod:`spp_lab.metrics`), the learning rate and the
    epoch's speed. A history written with fewer columns (an older release, before a
    metric was registered) reads with those columns empty; a column this release does not
    know is kept as read."""
    return ("epoch", "train_size", *history_columns("train"), *history_columns("val"),
            "lr", "train_img_per_s", "epoch_time_s")


HISTORY_FIELDS = history_fields()  # the built-in columns (plug-ins may add more)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Schema(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class Status(_Schema):
    state: str = Field(pattern="^(" + "|".join(STATES[:-1]) + ")$")
    attempts: int = Field(0, ge=0)


class FinalMetrics(_Schema):
    val_top1_err: float = Field(ge=0, le=100)
    val_top5_err: float | None = None
    val_loss: float | None = None
    train_loss: float | None = None
    train_top1_err: float | None = None


class BestMetrics(_Schema):
    val_top1_err: float = Field(ge=0, le=100)
    val_top5_err: float | None = None
    epoch: int = Field(ge=0)  # the best epoch, counted from first_epoch


class Metrics(_Schema):
    """``metrics.json``: written once, when a job finishes. Read back, epochs count from 1
    whichever release wrote it (0.1.0 counted from 0 and wrote no ``first_epoch``)."""

    final: FinalMetrics
    best: BestMetrics
    epochs: int = Field(ge=1)
    first_epoch: int = Field(0, ge=0, le=1)
    test: dict[str, float | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _from_one(self) -> Metrics:
        if self.first_epoch == 0:
            self.best.epoch += 1
            self.first_epoch = 1
        return self


def config_text(data: dict[str, Any]) -> str:
    """A config as the YAML of ``config.yaml``: keys in the order of the config models."""
    return yaml.safe_dump(data, sort_keys=False)


@dataclass(frozen=True)
class RunState:
    state: str
    reason: str | None = None  # why: a failed job's error, the corrupt file, ...


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
    history, progress, first_step = _In("history.csv"), _In("progress.json"), \
        _In("first_step.json")
    log, checkpoints, last_ckpt = _In("log.txt"), _In("checkpoints"), \
        _In("checkpoints", "last.ckpt")
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
        """``history.csv`` rows with numbers parsed, one key per column this release knows
        (None where the file has no such column) and per column the file has besides;
        Corrupt if the header, a row or the epochs are off."""
        try:
            text = self.history.read_text()
        except FileNotFoundError:
            return []
        except UnicodeDecodeError:
            raise Corrupt(self.history, "not text") from None
        lines = [r for r in csv.reader(text.splitlines()) if r]  # blank lines: none
        if not lines:
            return []
        header = lines[0]
        if header[:1] != ["epoch"] or len(set(header)) != len(header) or "" in header:
            raise Corrupt(self.history, "header is not epoch,… with each column named once")
        fields = list(dict.fromkeys([*history_fields(), *header]))
        # epochs count from 1; 0.1.0 counted from 0: its files are read as if from 1
        shift = 1 if len(lines) > 1 and lines[1][:1] == ["0"] else 0
        return [self._history_row(i, header, values, fields, shift)
                for i, values in enumerate(lines[1:])]

    def _history_row(self, i: int, header: list[str], values: list[str],
                     fields: list[str], shift: int = 0) -> dict[str, Any]:
        """Row ``i`` (0-based, after the header) parsed: text columns as text (``24`` or
        ``24/32``), missing trailing values None, the rest numbers; Corrupt if not."""
        if len(values) > len(header):
            raise Corrupt(self.history, f"row {i + 1} is not numbers")
        given, known = dict(zip(header, values)), set(history_fields())
        try:
            row = {k: (given.get(k) if k in TEXT_COLUMNS else
                       _number(given.get(k), strict=k in known)) for k in fields}
            row["epoch"] = int(values[0]) + shift
        except (TypeError, ValueError):
            raise Corrupt(self.history, f"row {i + 1} is not numbers") from None
        if row["epoch"] != i + 1:
            raise Corrupt(self.history, f"row {i + 1} is epoch {int(values[0])}, not "
                          f"{i + 1 - shift}")
        return row

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        lines: list[str] = []

        class _Sink:
            def write(self, s: str) -> None:
                lines.append(s)

        fields = list(dict.fromkeys([*history_fields(), *(k for r in rows for k in r)]))
        w = csv.DictWriter(_Sink(), fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_atomic(self.history, "".join(lines))

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


def _number(text: str | None, strict: bool) -> float | str | None:
    """A history value: None if empty, a float, or (a column of a newer release) text."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        if strict:
            raise
        return text


class ReportSpec(BaseModel):
    """The ``report`` section of an experiment file and of ``experiment.json``."""

    model_config = ConfigDict(extra="forbid")
    metric: str = Field("val_top1_err", description="metric of the tables (metrics registry)")
    baseline: str | None = Field(None, description="condition gains are measured against "
                                 "(default: the first condition)")
    rows: str = Field("model.arch", description="dotted key whose values are the table rows")
    interaction: list[str] = Field(
        [], description="two dotted keys with two values each: main effects and interaction")
    ci: Literal["t", "bootstrap"] = Field(
        "t", description="95% CIs: Student t, or a percentile bootstrap of the mean")
    target: float = Field(1.0, gt=0, description="a change is resolved when its 95% CI is "
                          "within ±target (the metric's units); seeds.target, if given, wins")

    @field_validator("interaction")
    @classmethod
    def _two(cls, v: list[str]) -> list[str]:
        if v and len(v) != 2:
            raise ValueError(f"give exactly two keys, got {len(v)}")
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        get_metric(v)
        return v


class ExperimentSpec(BaseModel):
    """``experiment.json``: what the report needs to know about the experiment file."""

    model_config = ConfigDict(extra="ignore")
    name: str
    description: str = ""
    source: str | None = None
    run_ids: list[str] | None = None  # the jobs the file expands to now; None: every folder
    conditions: list[str] = Field(default_factory=lambda: ["default"])
    report: ReportSpec = Field(default_factory=ReportSpec)
    grid: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    seed_rule: dict[str, Any] | None = None  # seeds: {min, max, target, budget}, as given
    row_order: list[Any] = Field(default_factory=list)
    axis_order: dict[str, list[Any]] = Field(default_factory=dict)  # swept values, file order


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
