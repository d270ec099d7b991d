"""Plan and run an experiment (torch-free): what ``spp-lab ls``, ``spp-lab run`` and
:func:`spp_lab.api.run_experiment` share.

:func:`plan` turns an experiment file (plus ``--set``, ``--smoke`` and ``--only``) into jobs
and their states; :func:`run_plan` executes the ones not done through an executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from spp_lab.errors import UserError, format_validation_error
from spp_lab.runfolder import ExperimentFolder, ExperimentSpec, RunState
from spp_lab.runner.executors.base import Outcome, RunOptions
from spp_lab.runner.experiment import Job, expand, prepare, unread_switches
from spp_lab.runner.select import parse_only, select
from spp_lab.runs import scalar as _scalar


@dataclass
class Plan:
    exp: Any  # ExperimentFile, after --set and --smoke
    source: str
    every_job: list[Job]  # what the file expands to
    jobs: list[Job]  # after --only
    states: dict[str, RunState] = field(default_factory=dict)
    executor: str = "local"
    settings: BaseModel | None = None  # the executor's: file section, then flags on top
    notes: list[str] = field(default_factory=list)  # for the user, before anything runs

    @property
    def folder(self) -> ExperimentFolder:
        return ExperimentFolder(Path(self.every_job[0].config.output_dir) / self.exp.name)


def executor_settings(exp: Any, executor: str, given: Mapping[str, Any] | None = None,
                      labels: Mapping[str, str] | None = None) -> BaseModel:
    """The executor's settings: the experiment file's section, with ``given`` (the
    command's flags, the API's keywords) on top; an error names a given key by its
    ``labels`` entry (how the user wrote it, e.g. ``--workers``)."""
    from spp_lab.runner.executors import executor_spec

    try:
        spec = executor_spec(executor)
    except ValueError as err:
        raise UserError(f"--executor: {err}") from None
    values = exp._executors.get(executor, {}) | dict(given or {})
    try:
        return spec.settings.model_validate(values)
    except ValidationError as err:
        text = format_validation_error(err, spec.settings, prefix=executor, source="\0")
        for key, label in (labels or {}).items():
            text = text.replace(f"\0: {executor}.{key}:", f"{label}:")
        return _raise(text.replace("\0", f"{exp._source} ({executor}: section)"))


def _raise(text: str) -> Any:
    raise UserError(text)


def plan(path: str | dict[str, Any], *, smoke: bool = False,
         overrides: list[str] | None = None, only: list[str] | None = None,
         executor: str = "local", options: Mapping[str, Any] | None = None,
         labels: Mapping[str, str] | None = None, data: str | None = None,
         target: float | None = None, budget: int | str | None = None,
         keep_unread: bool = False) -> Plan:
    """The jobs of an experiment file and their states; ``--only`` must select some, and
    the selected jobs pass every check that can be made before training (:mod:`.checks`).
    ``options``: the executor's settings over the file's section (``labels``: their names
    as given, for errors). ``data``: a data problem (a missing root, a bad folder) is an
    ``error`` or a ``warn`` ing; by default an error where the jobs run on this machine
    (the local executor) and a warning where they run elsewhere (the data is there).
    A grid value that a job's head never reads is refused (it would repeat another job's
    numbers under a new id); ``keep_unread``: a warning instead (``--print-experiment``)."""
    from spp_lab.checks import check_configs
    from spp_lab.runner.executors import get_executor

    exp = with_seed_rule(prepare(path, smoke, overrides), target, budget)
    seed_note = _recorded_plan(exp)
    settings = executor_settings(exp, executor, options, labels)
    # where the jobs will run, for precision auto and the checks (None: a cluster's, unknown)
    where = getattr(get_executor(executor), "target_gpus", None)
    target = where(settings) if where else None
    every = expand(exp, gpus=target or [])
    path = exp._source
    jobs = select(every, parse_only(only or []))
    if not jobs:  # a misspelt value would otherwise do nothing, silently
        raise UserError(f"--only {' '.join(only or [])}: selects none of the {len(every)} "
                        f"jobs of {path}; `spp-lab ls {path}` lists their values")
    check_configs([(f"job {j.condition!r} {j.values}", j.config) for j in jobs], path,
                  gpus=target, data=data or ("error" if where else "warn"))
    states = {j.run_id: j.folder.state() for j in jobs}
    out = Plan(exp, path, every, jobs, states, executor, settings)
    note = old_default_note(out)
    unread = unread_switches(exp, jobs)
    if unread and not keep_unread:
        hint = (" (with -m, `--print-experiment` writes the experiment file to edit)"
                if isinstance(exp._source, str) and exp._source == "-m" else "")
        raise UserError(f"{path}: " + f"\n{path}: ".join(unread) + hint)
    out.notes += unread + [n for n in (note, seed_note) if n]
    return out


def with_seed_rule(exp: Any, target: float | None, budget: int | str | None) -> Any:
    """``--target``/``--budget`` over the file's ``seeds``: a seed list becomes the pilot of
    a rule (at least 3 seeds), so its finished seeds keep their run ids."""
    from spp_lab.stopping import SeedRule

    if target is None and budget is None:
        return exp
    rule = exp.seeds if isinstance(exp.seeds, SeedRule) else None
    if target is None and rule is None:
        raise UserError(f"--budget {budget}: give --target too (or seeds: {{target: ...}} in "
                        f"{exp._source}); a budget caps the seeds a target adds")
    given = {"target": target} if target is not None else {}
    given |= {"budget": _budget_value(budget)} if budget is not None else {}
    base = rule.model_dump() if rule else {"min": max(3, len(exp.seeds))}
    try:
        new = SeedRule.model_validate(base | given)
    except ValidationError as err:
        e = err.errors()[0]
        flag = {"target": "--target", "budget": "--budget"}.get(str(e["loc"][0]) if e["loc"]
                                                               else "", "--target")
        given_text = target if flag == "--target" else budget
        raise UserError(f"{flag} {given_text}: {e['msg'].removeprefix('Value error, ')}") \
            from None
    out = exp.model_copy(update={"seeds": new})
    out._source, out._executors, out._smoke = exp._source, exp._executors, exp._smoke
    return out


def _budget_value(text: int | str) -> int | str:
    return int(text) if isinstance(text, str) and text.strip().isdigit() else text


def _recorded_plan(exp: Any) -> str | None:
    """Put the folder's seed decisions (if any, for this rule) on ``exp``; a note if a
    plan for another rule was set aside."""
    from spp_lab.config import RunConfig
    from spp_lab.runner.adaptive import recorded_plan
    from spp_lab.schema import default_of

    out_dir = exp.base.get("output_dir", default_of(RunConfig, "output_dir"))
    exp._plan, note = recorded_plan(exp, ExperimentFolder(Path(str(out_dir)) / exp.name))
    return note


def old_default_note(p: Plan, limit: int = 500) -> str | None:
    """When new jobs equal done runs of the folder but for defaults that 0.2.0 changed, the
    keys to pin in ``base`` to get those runs (and their ids) back; else None."""
    from spp_lab.config import flatten
    from spp_lab.fileio import Corrupt
    from spp_lab.runs import ADDED_LATER, DEFAULTS_0_1_0

    new = [j for j in p.jobs if p.states[j.run_id].state == "new"]
    ids = {j.run_id for j in p.every_job}
    if not new or not p.folder.runs_dir.is_dir():
        return None
    stale = [r for r in p.folder.run_folders(current_only=False)[0][:limit]
             if r.path.name not in ids and r.state().state == "done"]
    olds = []
    for run in stale:
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
    return (f"{found} new job(s) equal done runs in {p.folder.runs_dir} made under 0.1.0's "
            f"defaults; to keep those runs, set in base: {keys} (CHANGELOG, 0.2.0)")


def run_options(p: Plan, progress: Any = None) -> RunOptions:
    """The one place a plan becomes an executor's options (the command and the API)."""
    return RunOptions(settings=p.settings, retries=p.exp.retries, source=p.source,
                      progress=progress)


def experiment_spec(p: Plan) -> ExperimentSpec:
    """What the report needs to know: conditions in order, report settings, swept keys, and
    the run ids the file expands to now (older run folders stay on disk, out of the tables)."""
    exp = p.exp
    return ExperimentSpec(
        name=exp.name, description=exp.description, source=p.source,
        run_ids=[j.run_id for j in p.every_job], conditions=list(exp.conditions) or ["default"],
        report=exp.report, grid=list(exp.grid) + list(exp.zip),
        seeds=sorted({j.seed for j in p.every_job}),
        seed_rule=None if isinstance(exp.seeds, list) else exp.seeds.model_dump(mode="json"),
        row_order=[_scalar(v) for v in (exp.grid.get(exp.report.rows)
                                         or exp.zip.get(exp.report.rows) or [])],
        axis_order={k: [_scalar(v) for v in vals] for k, vals in (exp.grid | exp.zip).items()})


def todo(p: Plan, force: bool = False, retry_failed: bool = False
         ) -> tuple[list[Job], list[tuple[Job, str]]]:
    """Jobs to run now, and the skipped ones with why."""
    run, skipped = [], []
    for job in p.jobs:
        state = p.states[job.run_id].state
        if state == "running":
            skipped.append((job, "running elsewhere"))
        elif force:
            run.append(job)
        elif state == "done" or (state in ("failed", "diverged") and not retry_failed):
            skipped.append((job, state))
        else:
            run.append(job)
    return run, skipped


def run_plan(p: Plan, opts: RunOptions, jobs: list[Job] | None = None, *,
             force: bool = False, retry_failed: bool = False) -> Outcome:
    """Execute ``jobs`` (default: :func:`todo`'s, the plan's jobs not done)."""
    from spp_lab.runner.executors import get_executor

    if jobs is None:
        jobs, _ = todo(p, force, retry_failed)
    p.folder.path.mkdir(parents=True, exist_ok=True)
    p.folder.write_spec(experiment_spec(p))
    for job in p.states:
        if p.states[job].state == "corrupt":
            print(f"  rerun {job}: {p.states[job].reason}")
    if force:
        from spp_lab.tracking import forget_offline_runs

        for job in jobs:
            job.folder.reset()
            forget_offline_runs(p.folder.wandb_dir, p.exp.name, job.run_id)
    if not jobs:
        return Outcome()
    return get_executor(p.executor).from_options(opts, jobs).run(jobs)


def run_waves(p: Any, opts: RunOptions, replan: Callable[[], Any], *,
              jobs: list[Job] | None = None, force: bool = False, retry_failed: bool = False,
              say: Callable[[str], None] = print) -> tuple[Outcome, Any]:
    """Run the plan's ``jobs`` (default: those not done); where seeds are a rule, decide the
    cells whose pilot finished and run the seeds added, until no decision is left to make.
    Returns the outcome and the last plan (its jobs are the study's now)."""
    from spp_lab.runner.adaptive import merge, record_decisions
    from spp_lab.stopping import SeedRule

    out = run_plan(p, opts, jobs, force=force, retry_failed=retry_failed)
    while isinstance(p.exp.seeds, SeedRule) and not (out.stopped or out.interrupted
                                                     or out.not_started):
        lines = record_decisions(p.exp, p.folder, p.every_job)
        if not lines:
            break
        say(f"{p.exp.name}: seeds decided ({p.exp.seeds.text()}):")
        for line in lines:
            say(f"  {line}")
        p = replan()
        jobs, _ = todo(p, False, retry_failed)
        out = merge(out, run_plan(p, opts, jobs))
    return out, p
