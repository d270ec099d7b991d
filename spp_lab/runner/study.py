"""A study: one experiment file as the runner runs it (no torch).

:func:`open_study` reads the file once (with ``--set``, ``--target``/``--budget``,
``--smoke`` and ``--only``), checks its design and every selected job before anything
runs, and returns a :class:`Study`: the file, its executor and settings, the seed plan
recorded so far, its jobs and their states. The runner owns it: between a seed rule's
waves :meth:`Study.extend` adds the seeds a decision gives, from the checked design,
without reading or checking the file again. ``ls``, ``run``, ``train --experiment`` and
:func:`spp_lab.api.run_experiment` all start here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from spp_lab.errors import UserError, format_validation_error
from spp_lab.results import ExperimentFolder, ExperimentSpec, RunState
from spp_lab.runner.devices import GPU
from spp_lab.runner.expand import Design, design, expand, jobs_of, unread_switches
from spp_lab.runner.experiment import (
    ExperimentFile,
    cell_key,
    load_experiment,
    parse_experiment,
    with_overrides,
    with_seed_rule,
)
from spp_lab.runner.job import Job
from spp_lab.runner.select import parse_only, select
from spp_lab.runs import scalar
from spp_lab.stopping import SeedPlan

DataCheck = Literal["error", "warn", "skip"]


@dataclass
class Study:
    file: ExperimentFile  # after --set and --target/--budget
    source: str  # the file's path, or "-m"
    design: Design  # its checked parts
    executor: str
    settings: BaseModel  # the executor's: the file's section, the flags on top
    gpus: list[GPU] | None  # where the jobs run (None: a cluster's, unknown here)
    smoke: bool = False
    only: list[dict[str, Any]] = field(default_factory=list)  # --only rules
    seed_plan: SeedPlan | None = None  # a seed rule's decisions so far
    every_job: list[Job] = field(default_factory=list)  # what the file expands to now
    jobs: list[Job] = field(default_factory=list)  # after --only
    states: dict[str, RunState] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # for the user, before anything runs

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def folder(self) -> ExperimentFolder:
        return ExperimentFolder(Path(self.every_job[0].config.output_dir) / self.name)

    def seeds_of(self, cell: dict[str, Any]) -> list[int]:
        """A cell's seeds: the list, or a rule's pilot plus what its plan added."""
        rule = self.file.rule
        if rule is None:
            return list(self.file.seeds)
        planned = self.seed_plan.seeds_of(cell_key(cell)) if self.seed_plan else None
        return list(range(planned or rule.min))

    def extend(self, plan: SeedPlan) -> Study:
        """This study with ``plan``'s seeds: the jobs of the seeds it adds (from the checked
        design, the file not read again), and every job's state as it is now."""
        grown = replace(self, seed_plan=plan)
        have = {(j.cell, j.condition, j.seed) for j in self.every_job}
        added = [j for j in jobs_of(self.design, self.design.cells, grown.seeds_of,
                                    self.gpus or [], self.smoke)
                 if (j.cell, j.condition, j.seed) not in have]
        grown.every_job = self.every_job + added
        grown.jobs = self.jobs + (select(added, self.only) if self.only else added)
        grown.states = {j.run_id: j.folder.state() for j in grown.jobs}  # as they are now
        return grown


def executor_settings(exp: ExperimentFile, source: str, executor: str,
                      given: Mapping[str, Any] | None = None,
                      labels: Mapping[str, str] | None = None) -> BaseModel:
    """The executor's settings: the file's section, with ``given`` (the command's flags,
    the API's keywords) on top; an error names a given key by its ``labels`` entry (how
    the user wrote it, e.g. ``--workers``)."""
    from spp_lab.runner.executors import executor_spec

    try:
        spec = executor_spec(executor)
    except ValueError as err:
        raise UserError(f"--executor: {err}") from None
    try:
        return spec.settings.model_validate(exp.executors.get(executor, {}) | dict(given or {}))
    except ValidationError as err:
        text = format_validation_error(err, spec.settings, prefix=executor, source="\0")
        for key, label in (labels or {}).items():
            text = text.replace(f"\0: {executor}.{key}:", f"{label}:")
        raise UserError(text.replace("\0", f"{source} ({executor}: section)")) from None


def open_study(source: str | dict[str, Any], *, smoke: bool = False,
               overrides: list[str] | None = None, only: list[str] | None = None,
               executor: str = "local", options: Mapping[str, Any] | None = None,
               labels: Mapping[str, str] | None = None, data: DataCheck | None = None,
               target: float | None = None, budget: int | str | None = None,
               keep_unread: bool = False) -> Study:
    """The study of an experiment file (a path, or ``-m``'s mapping): see the module.
    ``data``: a data or weights problem is an ``error`` or a ``warn``ing; by default an
    error where the jobs run here (the local executor), else a warning (each job checks
    where it runs). A grid value a job's head never reads is refused (it would repeat
    another job's numbers under a new id); ``keep_unread``: a note instead."""
    from spp_lab.checks import check_configs
    from spp_lab.runner.executors import get_executor

    path = source if isinstance(source, str) else "-m"
    exp = load_experiment(source) if isinstance(source, str) else parse_experiment(source, path)
    exp = with_seed_rule(with_overrides(exp, overrides or []), target, budget)
    if smoke:  # the same grid, each job shrunk, under results/<name>-smoke/
        exp = exp.model_copy(update={"name": f"{exp.name}-smoke"})
    settings = executor_settings(exp, path, executor, options, labels)
    where = getattr(get_executor(executor), "target_gpus", None)
    gpus = where(settings) if where else None
    study = Study(exp, path, design(exp, path), executor, settings, gpus, smoke,
                  parse_only(only or []))
    study.seed_plan, seed_note = _recorded_plan(study)
    study.every_job = expand(exp, path, gpus or [], smoke, study.seeds_of)
    study.jobs = select(study.every_job, study.only)
    if not study.jobs:  # a misspelt value would otherwise do nothing, silently
        raise UserError(f"--only {' '.join(only or [])}: selects none of the "
                        f"{len(study.every_job)} jobs of {path}; `spp-lab ls {path}` lists "
                        "their values")
    check_configs([(f"job {j.condition!r} {j.values}", j.config) for j in study.jobs], path,
                  gpus=gpus, data=data or ("error" if where else "warn"))
    study.states = {j.run_id: j.folder.state() for j in study.jobs}
    unread = unread_switches(study.jobs)
    if unread and not keep_unread:
        hint = (" (with -m, `--print-experiment` writes the experiment file to edit)"
                if path == "-m" else "")
        raise UserError(f"{path}: " + f"\n{path}: ".join(unread) + hint)
    study.notes = unread + [n for n in (old_default_note(study), seed_note) if n]
    return study


def _recorded_plan(study: Study) -> tuple[SeedPlan | None, str | None]:
    """The folder's seed decisions for this file's rule (a note where another's are set
    aside). The folder is known before the jobs: ``<base output_dir>/<name>``."""
    from spp_lab.config import RunConfig
    from spp_lab.runner.adaptive import recorded_plan
    from spp_lab.schema import default_of

    out = study.file.base.get("output_dir", default_of(RunConfig, "output_dir"))
    return recorded_plan(study.file, ExperimentFolder(Path(str(out)) / study.name))


def old_default_note(study: Study, limit: int = 500) -> str | None:
    """When new jobs equal done runs of the folder but for defaults that 0.2.0 changed, the
    keys to pin in ``base`` to get those runs (and their ids) back; else None."""
    from spp_lab.config import flatten
    from spp_lab.fileio import Corrupt
    from spp_lab.runs import ADDED_LATER, DEFAULTS_0_1_0

    new = [j for j in study.jobs if study.states[j.run_id].state == "new"]
    ids = {j.run_id for j in study.every_job}
    if not new or not study.folder.runs_dir.is_dir():
        return None
    olds = []
    for run in study.folder.run_folders(current_only=False)[0][:limit]:
        if run.path.name in ids or run.state().state != "done":
            continue
        try:
            olds.append(ADDED_LATER | flatten(run.read_config()))
        except Corrupt:
            continue
    pins: dict[str, Any] = {}
    found = 0
    for job in new:
        flat = ADDED_LATER | flatten(job.config.model_dump(mode="json"))
        for old in olds:
            diff = {k for k in flat.keys() | old.keys()
                    if k != "output_dir" and flat.get(k) != old.get(k)}
            if diff and all(old.get(k) == DEFAULTS_0_1_0.get(k, object()) for k in diff):
                pins |= {k: old[k] for k in diff}
                found += 1
                break
    if not found:
        return None
    keys = ", ".join(f"{k}: {v}" for k, v in sorted(pins.items()))
    return (f"{found} new job(s) equal done runs in {study.folder.runs_dir} made under "
            f"0.1.0's defaults; to keep those runs, set in base: {keys} (CHANGELOG, 0.2.0)")


def experiment_spec(study: Study) -> ExperimentSpec:
    """What the report needs to know: conditions in order, report settings, swept keys, and
    the run ids the file expands to now (older run folders stay on disk, out of the tables)."""
    exp, swept = study.file, study.file.grid | study.file.zip
    return ExperimentSpec(
        name=study.name, description=exp.description, source=study.source,
        run_ids=[j.run_id for j in study.every_job],
        conditions=list(exp.conditions) or ["default"], report=exp.report,
        grid=list(swept), seeds=sorted({j.seed for j in study.every_job}),
        seed_rule=None if exp.rule is None else exp.rule.model_dump(mode="json"),
        row_order=[scalar(v) for v in swept.get(exp.report.rows) or []],
        axis_order={k: [scalar(v) for v in vals] for k, vals in swept.items()})


def todo(study: Study, force: bool = False, retry_failed: bool = False
         ) -> tuple[list[Job], list[tuple[Job, str]]]:
    """Jobs to run now, and the skipped ones with why."""
    run, skipped = [], []
    for job in study.jobs:
        state = study.states[job.run_id].state
        if state == "running":
            skipped.append((job, "running elsewhere"))
        elif force:
            run.append(job)
        elif state == "done" or (state in ("failed", "diverged") and not retry_failed):
            skipped.append((job, state))
        else:
            run.append(job)
    return run, skipped
