"""The ``spp-lab`` subcommands: thin handlers over the library (the top layer).

Each handler takes the parsed ``argparse`` namespace, prints, and returns the exit code;
anything heavy (torch for ``train``) is imported inside the handler that needs it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from spp_lab.config import load_run_config
from spp_lab.errors import UserError
from spp_lab.runfolder import count_states, counts_text


def cmd_train(args) -> int:
    if args.experiment:
        return _train_job(args)
    config, overrides = args.config, list(args.overrides)
    if config and "=" in config and not config.endswith((".yaml", ".yml")):
        config, overrides = None, [config, *overrides]
    if config and not Path(config).exists() and "/" not in config and \
            not config.endswith((".yaml", ".yml")):
        raise UserError(f"{config}: neither a config file nor key=value; to set a key write "
                        f"{config}=VALUE (spp-lab train --help lists the keys)")
    from spp_lab.checks import check_configs
    from spp_lab.runner.devices import resolve_auto, visible_gpus

    gpus = visible_gpus()
    cfg = asked = load_run_config(config, overrides)
    if args.smoke:
        from spp_lab.runner.experiment import shrink

        cfg = shrink(cfg).model_copy(update={"experiment": f"{cfg.experiment}-smoke"})
    cfg = resolve_auto(cfg, gpus)
    if args.print_config:
        from spp_lab.runs import config_yaml

        print(config_yaml(cfg), end="")
        return 0
    check_configs([("", cfg)], config or "config", gpus=gpus)
    if asked.data.batch_size == "auto" and cfg.data.batch_size != 64:
        print(f"data.batch_size: auto → {cfg.data.batch_size} (a small training split: at "
              "least 10 optimizer steps an epoch)")
    return _train_and_say(cfg)


def _train_and_say(cfg) -> int:
    """``spp-lab train``'s run: a line per epoch, then the result or how it stopped."""
    from spp_lab.fileio import read_json
    from spp_lab.runner.executors.base import EXIT_DONE, EXIT_INTERRUPTED
    from spp_lab.runner.single import stopped_at, train_one

    epochs = cfg.train.epochs

    def on_epoch(row: dict) -> None:
        print(f"epoch {row['epoch']}/{epochs} · train loss {row['train_loss']:.3f} · "
              f"val top-1 err {row['val_top1_err']:.2f}% · {row['train_img_per_s']:.0f} "
              f"img/s · {row['epoch_time_s']:.1f} s", flush=True)

    from spp_lab.runfolder import RunFolder
    from spp_lab.runs import run_dir

    done = RunFolder(run_dir(cfg)).state().state == "done"
    code, run = (EXIT_DONE, RunFolder(run_dir(cfg))) if done else train_one(cfg, on_epoch)
    rid, out = run.run_id, run.path
    if done:
        print(f"run {rid}: already done; its results follow (delete {out} to train it again)")
    if code == EXIT_INTERRUPTED:
        print(f"spp-lab: run {rid} stopped ({stopped_at(run)}); the same command resumes it "
              f"from its checkpoint ({out})", file=sys.stderr)
        return 130
    if code != EXIT_DONE:
        state = run.state()
        print(f"spp-lab: run {rid} {state.state}: {state.reason} (status: {run.status_file})",
              file=sys.stderr)
        return 1
    m = read_json(run.metrics_file)
    f, b = m["final"], m["best"]
    test = f" · test top-1 error {m['test']['test_top1_err']:.2f}%" if "test" in m else ""
    print(f"run {rid}: {cfg.model.arch} head={cfg.model.head} · {m['epochs']} epoch"
          f"{'s' if m['epochs'] != 1 else ''} · "
          f"final val top-1 error {f['val_top1_err']:.2f}% (best {b['val_top1_err']:.2f}% at "
          f"epoch {b['epoch']}){test} · {m['train_img_per_s']:.0f} img/s · "
          f"{m['wall_time_s']:.1f} s → {out}")
    return 0


def _train_job(args) -> int:
    """``spp-lab train --experiment FILE condition=... seed=... key=value``: the one job of
    the file those values pick, run like the runner runs it (lock, status, W&B group)."""
    from spp_lab.runner.executors.base import EXIT_DONE, EXIT_USER, job_spec
    from spp_lab.runner.plan import plan

    picks = [t for t in [args.config, *args.overrides] if t]
    p = plan(args.experiment, only=[",".join(picks)] if picks else [])
    if len(p.jobs) != 1:
        raise UserError(f"--experiment {args.experiment}: {' '.join(picks) or '(no values)'} "
                        f"picks {len(p.jobs)} jobs, not one; add condition=, seed= or grid "
                        f"values (spp-lab ls {args.experiment})")
    from spp_lab.runner.worker import execute

    job = p.jobs[0]
    if p.states[job.run_id].state == "done":  # a sweep agent re-sent a finished job
        print(f"run {job.run_id} ({job.condition}, seed {job.seed}): already done "
              f"({p.folder.run(job.run_id).path}); nothing to do")
        return 0
    p.folder.path.mkdir(parents=True, exist_ok=True)
    from spp_lab.runner.plan import experiment_spec

    p.folder.write_spec(experiment_spec(p))
    code = execute(job_spec(job, 1, threads=job.config.train.threads or 1,
                            source=args.experiment))
    state = p.folder.run(job.run_id).state()
    print(f"run {job.run_id} ({job.condition}, seed {job.seed}): {state.state}"
          + (f": {state.reason}" if state.reason else ""))
    return 0 if code == EXIT_DONE else 2 if code == EXIT_USER else 1


def _plan(args, **kw):
    """The experiment of ``ls``/``run``: one file, or ``-m`` overrides."""
    from spp_lab.runner.plan import plan

    source = _source(args)
    return plan(source, smoke=args.smoke, overrides=args.set, only=args.only,
                executor=args.executor, target=args.target, budget=args.budget,
                **_executor_options(args), **kw), source


def _executor_options(args) -> dict[str, Any]:
    """``--<executor> KEY=VALUE`` and shorthand flags → the chosen executor's settings;
    a setting of another executor is an error, not ignored."""
    from spp_lab.config import parse_override
    from spp_lab.errors import load_yaml_text
    from spp_lab.runner.executors import executor_names, shorthand_owner

    given: dict[str, dict[str, Any]] = {}
    labels: dict[str, str] = {}
    for name in executor_names():
        for text in getattr(args, f"executor_{name}", None) or []:
            key, value = parse_override(text)
            given.setdefault(name, {})[key] = value
            labels[key] = f"--{name} {key}"
    for key, name in shorthand_owner().items():
        text = getattr(args, f"shorthand_{key}", None)
        if text is not None:
            flag = f"--{key.replace('_', '-')}"
            given.setdefault(name, {})[key] = load_yaml_text(text, flag)
            labels[key] = flag
    for name, values in given.items():
        if name != args.executor:
            flags = ", ".join(labels[k] for k in values)
            raise UserError(f"{flags}: a setting of the {name} executor, but this run uses "
                            f"--executor {args.executor}; add --executor {name} or leave "
                            "it out")
    return {"options": given.get(args.executor, {}), "labels": labels}


def _source(args):
    if args.multirun:
        from spp_lab.runner.multirun import experiment_from_args

        return experiment_from_args(args.targets, seeds=args.seeds, name=args.name,
                                    base_file=args.base)
    if len(args.targets) != 1:
        raise UserError(f"give one experiment file (got {len(args.targets)}: "
                        f"{' '.join(args.targets) or 'none'}), or -m KEY=V1,V2 ... to sweep "
                        "from the command line")
    return args.targets[0]


def _notes(p) -> None:
    from spp_lab.errors import warn

    for note in p.notes:
        warn(note)


def _print_experiment(p) -> int:
    from spp_lab.runner.experiment import as_tree
    from spp_lab.runner.multirun import as_yaml

    print(as_yaml(as_tree(p.exp)), end="")
    return 0


def cmd_ls(args) -> int:
    from spp_lab.runner.adaptive import plan_lines

    p, _ = _plan(args, data="warn",  # listing needs no data; the jobs check theirs
                 keep_unread=args.print_experiment)
    _notes(p)
    if args.print_experiment:
        return _print_experiment(p)
    if args.config:
        from spp_lab.runs import config_yaml

        job = next((j for j in p.every_job if j.run_id.startswith(args.config)), None)
        if job is None:
            raise UserError(f"--config {args.config}: no job of {p.source} has that run id")
        print(config_yaml(job.config), end="")
        return 0
    rows = [{"run_id": j.run_id, "condition": j.condition, "seed": j.seed, "values": j.values,
             "status": p.states[j.run_id].state, "reason": p.states[j.run_id].reason}
            for j in p.jobs]
    counts = count_states(r["status"] for r in rows)
    if args.json:
        json.dump({"experiment": p.exp.name, "jobs": rows, "counts": counts}, sys.stdout,
                  indent=2, default=str)
        print()
        return 0
    print(f"{p.exp.name}: {len(rows)} jobs · " + counts_text(counts))
    for line in plan_lines(p):
        print(line)
    for r in rows:
        vals = " ".join(f"{k}={v}" for k, v in r["values"].items())
        why = f"  ({r['reason']})" if r["reason"] and r["status"] != "interrupted" else ""
        print(f"  {r['run_id']}  {r['status']:<11} {r['condition']:<20} seed={r['seed']} "
              f"{vals}{why}")
    return 0


def cmd_run(args) -> int:
    from spp_lab.runner.plan import run_options, run_waves, todo
    from spp_lab.runner.progress import Progress

    p, source = _plan(args, data="warn" if args.dry_run or args.print_experiment else None,
                      keep_unread=args.print_experiment)
    _notes(p)
    if args.print_experiment:
        return _print_experiment(p)
    jobs, skipped = todo(p, args.force, args.retry_failed)
    kept = sum(s in ("failed", "diverged") for _, s in skipped)
    print(f"{p.exp.name}: {len(p.jobs)} jobs · {len(jobs)} to run · {len(skipped)} skipped"
          + (f" ({kept} failed or diverged: --retry-failed reruns them)" if kept else ""))
    if args.dry_run:
        for job in jobs:
            print(f"  would run {job.run_id}  {job.condition}  seed={job.seed}  {job.values}")
        return 0
    opts = run_options(p, Progress(sys.stdout, live=None))
    if isinstance(source, dict):  # -m: the folder holds the file that reproduces it
        from spp_lab.fileio import write_atomic
        from spp_lab.runner.multirun import as_yaml

        write_atomic(p.folder.experiment_yaml, as_yaml(source))
    out, p = run_waves(p, opts, lambda: _plan(args)[0], jobs=jobs, force=args.force,
                       retry_failed=args.retry_failed)
    now = count_states(p.folder.run(j.run_id).state().state for j in p.jobs)
    print(f"{p.exp.name}: {len(out.done)} done, {len(out.failed)} failed, "
          f"{len(out.diverged)} diverged, {len(skipped) + len(out.busy)} skipped, "
          f"{len(out.interrupted)} interrupted" + (
              f", {len(out.not_started)} not started" if out.not_started else "")
          + f" · the grid now: {counts_text(now)} (as spp-lab ls counts)")
    for rid in out.failed + out.diverged:
        print(f"  {rid}: {out.reasons.get(rid, '')} (log: {p.folder.run(rid).log})")
    if out.stopped:
        raise UserError(f"stopped: {out.stopped}. Finished runs are kept; free space (or make "
                        f"{p.folder.path} writable) and run again to complete the grid",
                        code=1)
    if out.interrupted or out.not_started:
        return 130
    if not args.no_report:
        _report(p.folder, wandb_cfg=p.every_job[0].config)
    if out.user_errors:  # a mistake in the config or the data: fix it, then rerun
        return 2
    return 1 if out.failed or out.diverged else 0


def cmd_check_data(args) -> int:
    from spp_lab.data.verify import check_every_image

    bad = sum(check_every_image(data) for data in _data_configs(args))
    return 2 if bad else 0


def _data_configs(args) -> list[Any]:
    """The distinct data configs of an experiment file's jobs, or of one run config."""
    from spp_lab.config import is_experiment
    from spp_lab.errors import load_yaml

    file, overrides = None, list(args.targets)
    if overrides and "=" not in overrides[0] and Path(overrides[0]).is_dir():  # a folder
        overrides = ["data.name=imagefolder", f"data.root={overrides[0]}", *overrides[1:]]
    if overrides and "=" not in overrides[0]:
        file, overrides = overrides[0], overrides[1:]
    if file and is_experiment(load_yaml(file)):
        from spp_lab.runner.plan import plan

        p = plan(file, overrides=args.set + overrides, data="skip")
        seen = {j.config.data.model_dump_json(): j.config.data for j in p.jobs}
        return list(seen.values())
    return [load_run_config(file, overrides + args.set).data]


def cmd_report(args) -> int:
    from spp_lab.runfolder import ExperimentFolder

    if args.path is None:
        if not args.paper:
            raise UserError("report: give results/<name> or an experiment file, or --paper")
        from spp_lab.report.build import write_paper

        print(f"report: {write_paper(Path(args.output_dir) / 'paper')}")
        return 0
    path = Path(args.path)
    if path.is_file():
        from spp_lab.runner.plan import experiment_spec, plan

        p = plan(str(path))
        folder = p.folder
        if folder.exists():
            folder.write_spec(experiment_spec(p))
    else:
        folder = ExperimentFolder(path)
    if not folder.exists():
        raise UserError(f"report: {folder.path} has no runs/ folder; run the experiment first "
                        "(spp-lab run FILE)")
    _report(folder, paper=args.paper, wandb_cfg=_any_config(folder) if args.wandb else None)
    return 0


def _report(folder, paper: bool = False, wandb_cfg: Any = None) -> None:
    """Write the report; with a run config, also its W&B summary run."""
    from spp_lab.report.build import publish

    publish(folder.path, wandb_cfg.logging.wandb if wandb_cfg is not None else None, paper)


def _any_config(folder):
    """The run config of any run of the experiment (for its W&B settings)."""
    from spp_lab.config import build_config
    from spp_lab.fileio import Corrupt

    for run in folder.run_folders(current_only=False)[0]:
        try:
            data = run.read_config()
        except Corrupt:
            continue
        if data:
            return build_config(data, str(run.config))
    raise UserError(f"{folder.path}: no run has a readable config.yaml yet")


def cmd_export_sweep(args) -> int:
    from spp_lab.fileio import write_atomic
    from spp_lab.runner.multirun import as_yaml
    from spp_lab.runner.plan import plan
    from spp_lab.tracking import sweep_config

    p = plan(args.file, data="warn")
    write_atomic(Path(args.output), as_yaml(sweep_config(p.exp, args.file, p.every_job)))
    print(f"export-sweep: {args.output} ({len(p.every_job)} jobs); run it with: wandb sweep "
          f"{args.output} && wandb agent <sweep id>")
    return 0


def cmd_export(args) -> int:
    from spp_lab.config import load_run_folder_config as load_config
    from spp_lab.runfolder import RunFolder

    run = RunFolder(args.run)
    cfg = load_config(run.path)
    if not run.last_ckpt.exists():
        raise UserError(f"{run.last_ckpt}: no checkpoint (train.checkpoint: false, or not "
                        "finished)")
    size = args.size or cfg.data.image_size
    out = Path(args.output or run.path / f"model-{size}px.onnx")
    from spp_lab.export import export_run

    try:
        print(f"export: {export_run(run.path, size, out)} (one file: weights, input "
              "normalisation, class names and input size inside)")
    except ValueError as err:
        raise UserError(str(err)) from None
    return 0


def cmd_sync(args) -> int:
    """Upload the offline W&B runs under ``results/<name>/wandb`` with ``wandb sync``."""
    from spp_lab.runfolder import ExperimentFolder
    from spp_lab.tracking import sync_offline

    return sync_offline(ExperimentFolder(args.path))


def cmd_models(args) -> int:
    """The registered networks, then every catalog network whose name holds the pattern."""
    from spp_lab.models import catalog, list_models

    names = [n for n in dict.fromkeys(list_models() + catalog.all_names()) if args.pattern in n]
    if not names:
        raise UserError(f"models: no network name contains {args.pattern!r}; spp-lab models "
                        "lists them all")
    if not args.info:
        print("\n".join(names))
        return 0
    if len(names) > 40:
        raise UserError(f"models --info: {len(names)} names contain {args.pattern!r}; narrow "
                        "the pattern to 40 at most")
    for name in names:
        print(_model_line(name))
    return 0


def _model_line(name: str) -> str:
    from spp_lab.models import arch_spec, catalog

    spec = arch_spec(name)
    if spec.source is None:
        return f"{name:<28} registered here (CPU-sized switches: {', '.join(sorted(spec.options))})"
    try:
        f = catalog.facts(name)
    except ValueError as err:
        return f"{name:<28} {str(err).split(name, 1)[-1].strip()}"
    weights = ", ".join(f"{t}{'*' if t == f['default'] else ''}" for t in f["weights"])
    return (f"{name:<28} {f['channels']} channels, {f['input_size']} px "
            f"({f['sides'][str(f['input_size'])]}×{f['sides'][str(f['input_size'])]} map), "
            f"from {f['min_side']} px; weights: {weights or 'none'}")
