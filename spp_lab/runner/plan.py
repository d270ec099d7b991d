"""Plan and run an experiment (torch-free): what ``spp-lab ls``, ``spp-lab run`` and
:func:`spp_lab.api.run_experiment` share.

:func:`plan` turns an experiment file (plus ``--set``, ``--smoke`` and ``--only``) into jobs
and their states; :func:`run_plan` executes the ones not done through an executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spp_lab.errors import UserError
from spp_lab.runfolder import ExperimentFolder, ExperimentSpec, RunFolder, RunState
from spp_lab.runner.executors.base import Outcome, RunOptions
from spp_lab.runner.experiment import Job, load_jobs
from spp_lab.runner.select import parse_only, select
from spp_lab.runs import run_dir
from spp_lab.runs import scalar as _scalar


@dataclass
class Plan:
    exp: Any  # ExperimentFile, after --set and --smoke
    source: str
    every_job: list[Job]  # what the file expands to
    jobs: list[Job]  # after --only
    states: dict[str, RunState] = field(default_factory=dict)

    @property
    def folder(self) -> ExperimentFolder:
        return ExperimentFolder(Path(self.every_job[0].config.output_dir) / self.exp.name)


def target_gpus(executor: str, gpus_flag: str | None) -> list | None:
    """Where the jobs will run, for ``train.precision: auto`` and the pre-run checks: the
    local GPUs (``--gpus`` checked) for the local executor; None (unknown) for a cluster's."""
    from spp_lab.runner.devices import resolve_gpus

    return resolve_gpus(gpus_flag) if executor == "local" else None


def plan(path: str | dict[str, Any], *, smoke: bool = False,
         overrides: list[str] | None = None, only: list[str] | None = None,
         executor: str = "local", gpus: str | None = None) -> Plan:
    """The jobs of an experiment file and their states; ``--only`` must select some, and
    the selected jobs pass every check that can be made before training (:mod:`.checks`)."""
    from spp_lab.checks import check_configs

    target = target_gpus(executor, gpus)
    exp, every = load_jobs(path, smoke, overrides or [], gpus=target or [])
    path = exp._source
    jobs = select(every, parse_only(only or []))
    if not jobs:  # a misspelt value would otherwise do nothing, silently
        raise UserError(f"--only {' '.join(only or [])}: selects none of the {len(every)} "
                        f"jobs of {path}; `spp-lab ls {path}` lists their values")
    check_configs([(f"job {j.condition!r} {j.values}", j.config) for j in jobs], path,
                  gpus=target)
    states = {j.run_id: RunFolder(run_dir(j.config, j.run_id)).state() for j in jobs}
    return Plan(exp, path, every, jobs, states)


def experiment_spec(p: Plan) -> ExperimentSpec:
    """What the report needs to know: conditions in order, report settings, swept keys, and
    the run ids the file expands to now (older run folders stay on disk, out of the tables)."""
    exp = p.exp
    return ExperimentSpec(
        name=exp.name, description=exp.description, source=p.source,
        run_ids=[j.run_id for j in p.every_job], conditions=list(exp.conditions) or ["default"],
        report=exp.report, grid=list(exp.grid) + list(exp.zip), seeds=exp.seeds,
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


def run_plan(p: Plan, executor: str, opts: RunOptions, *, force: bool = False,
             retry_failed: bool = False) -> Outcome:
    """Execute the plan's jobs that are not done; prints one line per job."""
    from spp_lab.runner.executors import get_executor

    jobs, _ = todo(p, force, retry_failed)
    p.folder.path.mkdir(parents=True, exist_ok=True)
    p.folder.write_spec(experiment_spec(p))
    for job in p.states:
        if p.states[job].state == "corrupt":
            print(f"  rerun {job}: {p.states[job].reason}")
    if force:
        from spp_lab.tracking import forget_offline_runs

        for job in jobs:
            RunFolder(run_dir(job.config, job.run_id)).reset()
            forget_offline_runs(p.folder.wandb_dir, p.exp.name, job.run_id)
    if not jobs:
        return Outcome()
    return get_executor(executor).from_options(opts, jobs).run(jobs)
