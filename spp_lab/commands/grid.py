"""``spp-lab ls`` and ``spp-lab run``: an experiment's jobs, listed or run (no torch here;
the jobs train in their own processes)."""

from __future__ import annotations

import json
import sys
from typing import Any

from spp_lab.errors import UserError, warn
from spp_lab.results import count_states, counts_text
from spp_lab.runner.study import Study


def source_of(args) -> str | dict[str, Any]:
    """The experiment of ``ls``/``run``: one file, or ``-m`` overrides as a mapping."""
    if args.multirun:
        from spp_lab.runner.multirun import experiment_from_args

        return experiment_from_args(args.targets, seeds=args.seeds, name=args.name,
                                    base_file=args.base)
    if len(args.targets) != 1:
        raise UserError(f"give one experiment file (got {len(args.targets)}: "
                        f"{' '.join(args.targets) or 'none'}), or -m KEY=V1,V2 ... to sweep "
                        "from the command line")
    return args.targets[0]


def study_of(args, source: str | dict[str, Any], **kw: Any) -> Study:
    """The study the command line describes, its notes said before anything runs."""
    from spp_lab.runner.executors import executor_names, shorthand_owner
    from spp_lab.runner.executors.options import executor_options
    from spp_lab.runner.study import open_study

    texts = {n: getattr(args, f"executor_{n}", None) or [] for n in executor_names()}
    flags = {k: getattr(args, f"shorthand_{k}", None) for k in shorthand_owner()}
    options, labels = executor_options(args.executor, texts, flags)
    study = open_study(source, smoke=args.smoke, overrides=args.set, only=args.only,
                       executor=args.executor, target=args.target, budget=args.budget,
                       options=options, labels=labels, **kw)
    for note in study.notes:
        warn(note)
    return study


def _print_experiment(study: Study) -> int:
    from spp_lab.runner.experiment import as_tree
    from spp_lab.runner.multirun import as_yaml

    print(as_yaml(as_tree(study.file)), end="")
    return 0


def cmd_ls(args) -> int:
    from spp_lab.runner.adaptive import plan_lines

    study = study_of(args, source_of(args), data="warn",  # the jobs check their data
                     keep_unread=args.print_experiment)
    if args.print_experiment:
        return _print_experiment(study)
    if args.config:
        from spp_lab.runs import config_yaml

        job = next((j for j in study.every_job if j.run_id.startswith(args.config)), None)
        if job is None:
            raise UserError(f"--config {args.config}: no job of {study.source} has that id")
        print(config_yaml(job.config), end="")
        return 0
    rows = [{"run_id": j.run_id, "condition": j.condition, "seed": j.seed, "values": j.values,
             "status": study.states[j.run_id].state, "reason": study.states[j.run_id].reason}
            for j in study.jobs]
    counts = count_states(r["status"] for r in rows)
    if args.json:
        json.dump({"experiment": study.name, "jobs": rows, "counts": counts}, sys.stdout,
                  indent=2, default=str)
        print()
        return 0
    print(f"{study.name}: {len(rows)} jobs · " + counts_text(counts))
    for line in plan_lines(study.file, study.folder, study.every_job, study.states,
                           study.seed_plan):
        print(line)
    for r in rows:
        vals = " ".join(f"{k}={v}" for k, v in r["values"].items())
        why = f"  ({r['reason']})" if r["reason"] and r["status"] != "interrupted" else ""
        print(f"  {r['run_id']}  {r['status']:<11} {r['condition']:<20} seed={r['seed']} "
              f"{vals}{why}")
    return 0


def cmd_run(args) -> int:
    from spp_lab.runner.progress import Progress
    from spp_lab.runner.study import todo
    from spp_lab.runner.waves import run_options, run_study

    source = source_of(args)
    listing = args.dry_run or args.print_experiment
    study = study_of(args, source, data="warn" if listing else None,
                     keep_unread=args.print_experiment)
    if args.print_experiment:
        return _print_experiment(study)
    jobs, skipped = todo(study, args.force, args.retry_failed)
    kept = sum(s in ("failed", "diverged") for _, s in skipped)
    print(f"{study.name}: {len(study.jobs)} jobs · {len(jobs)} to run · {len(skipped)} "
          "skipped" + (f" ({kept} failed or diverged: --retry-failed reruns them)"
                       if kept else ""))
    if args.dry_run:
        for job in jobs:
            print(f"  would run {job.run_id}  {job.condition}  seed={job.seed}  {job.values}")
        return 0
    if isinstance(source, dict):  # -m: the folder holds the file that reproduces it
        from spp_lab.fileio import write_atomic
        from spp_lab.runner.multirun import as_yaml

        write_atomic(study.folder.experiment_yaml, as_yaml(source))
    out, study = run_study(study, run_options(study, Progress(sys.stdout, live=None)), jobs,
                           force=args.force, retry_failed=args.retry_failed)
    return _ending(study, out, len(skipped), report=not args.no_report)


def _ending(study: Study, out: Any, skipped: int, report: bool) -> int:
    """What ``run`` says at its end, the report, and the exit code."""
    now = count_states(j.folder.state().state for j in study.jobs)
    print(f"{study.name}: {len(out.done)} done, {len(out.failed)} failed, "
          f"{len(out.diverged)} diverged, {skipped + len(out.busy)} skipped, "
          f"{len(out.interrupted)} interrupted" + (
              f", {len(out.not_started)} not started" if out.not_started else "")
          + f" · the grid now: {counts_text(now)} (as spp-lab ls counts)")
    for rid in out.failed + out.diverged:
        print(f"  {rid}: {out.reasons.get(rid, '')} (log: {study.folder.run(rid).log})")
    if out.stopped:
        raise UserError(f"stopped: {out.stopped}. Finished runs are kept; free space (or make "
                        f"{study.folder.path} writable) and run again to complete the grid",
                        code=1)
    if out.interrupted or out.not_started:
        return 130
    if report:
        from spp_lab.report.build import publish

        publish(study.folder.path, study.every_job[0].config.logging.wandb)
    if out.user_errors:  # a mistake in the config or the data: fix it, then rerun
        return 2
    return 1 if out.failed or out.diverged else 0
