"""Running a study (no torch): its jobs through an executor, and where the seeds are a rule,
the waves: run the pilot, decide the cells whose pilot finished, run the seeds added, until
no decision is left to make (:mod:`spp_lab.runner.adaptive`). The same for every executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from spp_lab.runner.adaptive import record_decisions
from spp_lab.runner.executors.base import Outcome, RunOptions
from spp_lab.runner.job import Job
from spp_lab.runner.progress import Progress
from spp_lab.runner.study import Study, experiment_spec, todo


def run_options(study: Study, progress: Progress | None = None) -> RunOptions:
    """The one place a study becomes an executor's options (the command and the API)."""
    return RunOptions(settings=study.settings, retries=study.file.retries,
                      source=study.source, progress=progress)


def run_jobs(study: Study, opts: RunOptions, jobs: list[Job], force: bool = False) -> Outcome:
    """Execute ``jobs`` of the study (``force``: their folders reset first)."""
    from spp_lab.runner.executors import get_executor

    study.folder.path.mkdir(parents=True, exist_ok=True)
    study.folder.write_spec(experiment_spec(study))
    for rid, state in study.states.items():
        if state.state == "corrupt":
            print(f"  rerun {rid}: {state.reason}")
    if force:
        from spp_lab.tracking import forget_offline_runs

        for job in jobs:
            job.folder.reset()
            forget_offline_runs(study.folder.wandb_dir, study.name, job.run_id)
    if not jobs:
        return Outcome()
    return get_executor(study.executor).from_options(opts, jobs).run(jobs)


def run_study(study: Study, opts: RunOptions, jobs: list[Job] | None = None, *,
              force: bool = False, retry_failed: bool = False,
              say: Callable[[str], None] = print) -> tuple[Outcome, Study]:
    """Run the study's ``jobs`` (default: those not done); where seeds are a rule, decide
    and run the added seeds wave by wave. Returns the outcome and the study as it ends
    (its jobs are the study's now)."""
    if jobs is None:
        jobs, _ = todo(study, force, retry_failed)
    out = run_jobs(study, opts, jobs, force)
    while study.file.rule is not None and not (out.stopped or out.interrupted
                                               or out.not_started):
        lines, plan = record_decisions(study.file, study.folder, study.every_job,
                                       study.seed_plan)
        if not lines:
            break
        say(f"{study.name}: seeds decided ({study.file.rule.text()}):")
        for line in lines:
            say(f"  {line}")
        study = study.extend(plan)
        out = merge(out, run_jobs(study, opts, todo(study, False, retry_failed)[0]))
    return out, study


def merge(a: Outcome, b: Outcome) -> Outcome:
    out = Outcome()
    for f in fields(Outcome):
        x, y = getattr(a, f.name), getattr(b, f.name)
        setattr(out, f.name, x + y if isinstance(x, list) else x | y if isinstance(x, dict)
                else x or y)
    return out
