"""``spp-lab ls`` and ``spp-lab run``: select jobs, execute, summarise (torch-free here)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from spp_lab.config import flatten
from spp_lab.errors import UserError
from spp_lab.runner.experiment import Job, expand, load_experiment, smoke, with_overrides
from spp_lab.runner.store import STATES, job_state
from spp_lab.runs import run_dir
from spp_lab.runs import scalar as _scalar


def load_jobs(path: str, use_smoke: bool = False,
              overrides: list[str] | None = None) -> tuple[Any, list[Job]]:
    exp = with_overrides(load_experiment(path), overrides or [])
    if use_smoke:
        exp = smoke(exp)
    return exp, expand(exp, src=path)


def parse_only(exprs: list[str]) -> list[dict[str, Any]]:
    """``--only "model.arch=zf5,condition=no SPP"`` → [{"model.arch": "zf5", ...}]."""
    import yaml

    rules = []
    for expr in exprs:
        rule = {}
        for part in expr.split(","):
            key, sep, raw = part.partition("=")
            if not sep or not key.strip():
                raise UserError(f"--only {expr!r}: expected key=value[,key=value], e.g. "
                                "--only model.arch=zf5,condition='no SPP'")
            rule[key.strip()] = yaml.safe_load(raw.strip())
        rules.append(rule)
    return rules


def select(jobs: list[Job], rules: list[dict[str, Any]]) -> list[Job]:
    if not rules:
        return jobs
    out = []
    for job in jobs:
        flat = flatten(job.config.model_dump(mode="json"))
        flat |= {"condition": job.condition, "seed": job.seed, "run_id": job.run_id}
        for rule in rules:
            unknown = [k for k in rule if k not in flat]
            if unknown:
                raise UserError(f"--only: unknown key {unknown[0]!r}; use condition, seed, "
                                "run_id or a dotted config key such as model.arch")
            if all(flat[k] == v or str(flat[k]) == str(v) for k, v in rule.items()):
                out.append(job)
                break
    return out


def job_rows(jobs: list[Job]) -> list[dict[str, Any]]:
    return [{"run_id": j.run_id, "condition": j.condition, "seed": j.seed, "values": j.values,
             "status": job_state(run_dir(j.config, j.run_id))} for j in jobs]


def cmd_ls(args) -> int:
    exp, jobs = load_jobs(args.file, args.smoke, args.set)
    rows = job_rows(select(jobs, parse_only(args.only)))
    counts = {s: sum(r["status"] == s for r in rows) for s in STATES}
    if args.json:
        json.dump({"experiment": exp.name, "jobs": rows, "counts": counts}, sys.stdout,
                  indent=2, default=str)
        print()
        return 0
    print(f"{exp.name}: {len(rows)} jobs · " + ", ".join(f"{v} {k}" for k, v in counts.items()
                                                          if v))
    for r in rows:
        vals = " ".join(f"{k}={v}" for k, v in r["values"].items())
        print(f"  {r['run_id']}  {r['status']:<11} {r['condition']:<20} seed={r['seed']} {vals}")
    return 0


def save_spec(exp_dir: Path, exp: Any, source: str, jobs: list[Job]) -> None:
    """What the report needs to know: conditions in order, report settings, swept keys, and
    the run ids the file expands to now (older run folders stay on disk, out of the tables)."""
    from spp_lab.runs import write_json

    write_json(exp_dir / "experiment.json", {
        "name": exp.name, "description": exp.description, "source": source,
        "run_ids": [job.run_id for job in jobs],
        "conditions": list(exp.conditions) or ["default"], "report": exp.report.model_dump(),
        "grid": list(exp.grid) + list(exp.zip), "seeds": exp.seeds,
        "row_order": [_scalar(v) for v in (exp.grid.get(exp.report.rows)
                                            or exp.zip.get(exp.report.rows) or [])]})


def cmd_report(args) -> int:
    from spp_lab.report.build import write_paper, write_report

    if args.path is None:
        if not args.paper:
            raise UserError("report: give results/<name> or an experiment file, or --paper")
        print(f"report: {write_paper(Path(args.output_dir) / 'paper')}")
        return 0
    path = Path(args.path)
    if path.is_file():
        exp, jobs = load_jobs(str(path))
        exp_dir = Path(jobs[0].config.output_dir) / exp.name
        save_spec(exp_dir, exp, str(path), jobs)
    else:
        exp_dir = path
    if not (exp_dir / "runs").is_dir():
        raise UserError(f"report: {exp_dir} has no runs/ folder; run the experiment first "
                        "(spp-lab run FILE)")
    print(f"report: {write_report(exp_dir, paper=args.paper)}")
    if args.wandb:
        _wandb_summary(exp_dir, experiment_spec_base(exp_dir))
    return 0


def experiment_spec_base(exp_dir: Path):
    """The run config of any run of the experiment (for its W&B settings)."""
    import yaml

    from spp_lab.config import build_config

    for cfg_file in sorted((exp_dir / "runs").glob("*/config.yaml")):
        return build_config(yaml.safe_load(cfg_file.read_text()), str(cfg_file))
    raise UserError(f"{exp_dir}: no run has a config.yaml yet")


def _reset(rdir: Path) -> None:
    for name in ("metrics.json", "history.csv", "status.json", "progress.json"):
        (rdir / name).unlink(missing_ok=True)
    shutil.rmtree(rdir / "checkpoints", ignore_errors=True)


def cmd_run(args) -> int:
    exp, every_job = load_jobs(args.file, args.smoke, args.set)
    jobs = select(every_job, parse_only(args.only))
    if not jobs:  # a misspelt value would otherwise run nothing, silently
        raise UserError(f"--only {' '.join(args.only)}: selects none of the {len(every_job)} "
                        f"jobs of {args.file}; `spp-lab ls {args.file}` lists their values")
    todo, skipped = [], []
    for job in jobs:
        rdir = run_dir(job.config, job.run_id)
        state = job_state(rdir)
        if args.force and state != "running":
            todo.append(job)
        elif state == "done" or (state == "failed" and not args.retry_failed):
            skipped.append((job, state))
        elif state == "running":
            skipped.append((job, "running elsewhere"))
        else:
            todo.append(job)
    n_failed_kept = sum(s == "failed" for _, s in skipped)
    print(f"{exp.name}: {len(jobs)} jobs · {len(todo)} to run · {len(skipped)} skipped"
          + (f" ({n_failed_kept} failed: --retry-failed reruns them)" if n_failed_kept else ""))
    if args.dry_run:
        for job in todo:
            print(f"  would run {job.run_id}  {job.condition}  seed={job.seed}  {job.values}")
        return 0
    exp_dir = Path(every_job[0].config.output_dir) / exp.name
    save_spec(exp_dir, exp, args.file, every_job)
    if args.force:
        for job in todo:
            _reset(run_dir(job.config, job.run_id))
    outcome = _execute(args, exp, todo)
    print(f"{exp.name}: {len(outcome.done)} done, {len(outcome.failed)} failed, "
          f"{len(skipped) + len(outcome.busy)} skipped, {len(outcome.interrupted)} interrupted")
    for rid in outcome.failed:
        print(f"  failed: {rid} (see {Path(exp.base.get('output_dir', 'results')) / exp.name}"
              f"/runs/{rid}/status.json)")
    if outcome.interrupted:
        return 130
    if not args.no_report:
        from spp_lab.report.build import write_report

        print(f"report: {write_report(exp_dir)}")
        _wandb_summary(exp_dir, every_job[0].config)
    return 1 if outcome.failed else 0


def _wandb_summary(exp_dir: Path, cfg) -> None:
    from spp_lab.report.wandb_summary import log_summary

    info = log_summary(exp_dir, cfg.logging.wandb)
    if info:
        print(f"W&B summary run: {info['id']} ({info['mode']})")


def _execute(args, exp, todo: list[Job]):
    from spp_lab.runner.progress import Progress

    progress = Progress(sys.stdout, live=None)
    if args.executor == "ray":
        from spp_lab.runner.ray_exec import RayExecutor

        return RayExecutor(address=args.address, retries=exp.retries,
                           progress=progress).run(todo)
    from spp_lab.runner.local import LocalExecutor

    gpus = None if args.gpus is None else [g for g in args.gpus.split(",") if g]
    return LocalExecutor(gpus=gpus, workers=args.workers or exp.workers, source=args.file,
                         jobs_per_gpu=exp.jobs_per_gpu, retries=exp.retries,
                         progress=progress).run(todo)


def cmd_sync(args) -> int:
    """Upload the offline W&B runs under ``results/<name>/wandb`` with ``wandb sync``."""
    import subprocess

    root = Path(args.path) / "wandb"
    runs = sorted(str(p) for p in root.glob("wandb/offline-run-*")) + sorted(
        str(p) for p in root.glob("offline-run-*"))
    if not runs:
        raise UserError(f"sync: no offline W&B runs under {root}")
    wandb_bin = Path(sys.executable).parent / "wandb"
    cmd = [str(wandb_bin) if wandb_bin.exists() else "wandb", "sync", *runs]
    print(f"sync: {len(runs)} offline runs")
    return subprocess.call(cmd)
