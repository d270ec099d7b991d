"""``spp-lab train``: one run, from keys on the command line or a config file, or one job
of an experiment file (``--experiment``, what a W&B sweep agent runs)."""

from __future__ import annotations

import sys
from pathlib import Path

from spp_lab.config import RunConfig, load_run_config
from spp_lab.errors import UserError


def cmd_train(args) -> int:
    if args.experiment:
        from spp_lab.runner.single import train_job

        picks = [t for t in [args.config, *args.overrides] if t]
        return train_job(args.experiment, picks)
    config, overrides = args.config, list(args.overrides)
    if config and "=" in config and not config.endswith((".yaml", ".yml")):
        config, overrides = None, [config, *overrides]
    if (config and not Path(config).exists() and "/" not in config
            and not config.endswith((".yaml", ".yml"))):
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


def _epoch_line(epochs: int):
    def say(row: dict) -> None:
        print(f"epoch {row['epoch']}/{epochs} · train loss {row['train_loss']:.3f} · "
              f"val top-1 err {row['val_top1_err']:.2f}% · {row['train_img_per_s']:.0f} "
              f"img/s · {row['epoch_time_s']:.1f} s", flush=True)
    return say


def _train_and_say(cfg: RunConfig) -> int:
    """The run: a line per epoch, then the result or how it stopped."""
    from spp_lab.fileio import read_json
    from spp_lab.results import RunFolder
    from spp_lab.runner.executors.base import EXIT_DONE, EXIT_INTERRUPTED
    from spp_lab.runner.single import stopped_at, train_one
    from spp_lab.runs import run_dir

    run = RunFolder(run_dir(cfg))
    done = run.state().state == "done"
    code = EXIT_DONE if done else train_one(cfg, _epoch_line(cfg.train.epochs))
    if done:
        print(f"run {run.run_id}: already done; its results follow (delete {run.path} to "
              "train it again)")
    if code == EXIT_INTERRUPTED:
        print(f"spp-lab: run {run.run_id} stopped ({stopped_at(run)}); the same command "
              f"resumes it from its checkpoint ({run.path})", file=sys.stderr)
        return 130
    if code != EXIT_DONE:
        state = run.state()
        print(f"spp-lab: run {run.run_id} {state.state}: {state.reason} (status: "
              f"{run.status_file})", file=sys.stderr)
        return 1
    m = read_json(run.metrics_file)
    f, b = m["final"], m["best"]
    test = f" · test top-1 error {m['test']['test_top1_err']:.2f}%" if "test" in m else ""
    print(f"run {run.run_id}: {cfg.model.arch} head={cfg.model.head} · {m['epochs']} epoch"
          f"{'s' if m['epochs'] != 1 else ''} · final val top-1 error "
          f"{f['val_top1_err']:.2f}% (best {b['val_top1_err']:.2f}% at epoch {b['epoch']})"
          f"{test} · {m['train_img_per_s']:.0f} img/s · {m['wall_time_s']:.1f} s → "
          f"{run.path}")
    return 0
