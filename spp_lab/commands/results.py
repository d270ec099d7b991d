"""What reads results: ``report``, ``export`` (ONNX), ``export-sweep`` (W&B) and ``sync``."""

from __future__ import annotations

from pathlib import Path

from spp_lab.config import RunConfig
from spp_lab.errors import UserError
from spp_lab.results import ExperimentFolder


def cmd_report(args) -> int:
    if args.path is None:
        if not args.paper:
            raise UserError("report: give results/<name> or an experiment file, or --paper")
        from spp_lab.report.build import write_paper

        print(f"report: {write_paper(Path(args.output_dir) / 'paper')}")
        return 0
    path = Path(args.path)
    if path.is_file():
        from spp_lab.runner.study import experiment_spec, open_study

        study = open_study(str(path))
        folder = study.folder
        if folder.exists():
            folder.write_spec(experiment_spec(study))
    else:
        folder = ExperimentFolder(path)
    if not folder.exists():
        raise UserError(f"report: {folder.path} has no runs/ folder; run the experiment first "
                        "(spp-lab run FILE)")
    from spp_lab.report.build import publish

    wandb = _any_config(folder).logging.wandb if args.wandb else None
    publish(folder.path, wandb, args.paper)
    return 0


def _any_config(folder: ExperimentFolder) -> RunConfig:
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
    from spp_lab.runner.study import open_study
    from spp_lab.tracking import sweep_config

    study = open_study(args.file, data="warn")
    write_atomic(Path(args.output), as_yaml(sweep_config(study.file, args.file,
                                                         study.every_job)))
    print(f"export-sweep: {args.output} ({len(study.every_job)} jobs); run it with: wandb "
          f"sweep {args.output} && wandb agent <sweep id>")
    return 0


def cmd_export(args) -> int:
    from spp_lab.config import load_run_folder_config as load_config
    from spp_lab.results import RunFolder

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
    from spp_lab.tracking import sync_offline

    return sync_offline(ExperimentFolder(args.path))
