"""The experiment's summary W&B run (job_type ``report``): the comparison tables as
``wandb.Table`` and the charts as images, so the dashboard shows what ``results/`` shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from spp_lab.config import WandbConfig
from spp_lab.results import ExperimentFolder
from spp_lab.tracking import _warn_once, resolve_mode, wandb_id


def log_summary(exp_dir: Path, cfg: WandbConfig) -> dict[str, Any]:
    folder = ExperimentFolder(exp_dir)
    mode = resolve_mode(cfg, exp_dir)
    report = folder.report_dir
    if mode == "disabled" or not report.is_dir():
        return {}
    try:
        import wandb

        folder.wandb_dir.mkdir(parents=True, exist_ok=True)
        run = wandb.init(project=cfg.project, entity=cfg.entity, group=exp_dir.name,
                         job_type="report", name=f"{exp_dir.name}-report",
                         id=wandb_id(exp_dir.name, "report"), dir=str(exp_dir), mode=mode,
                         resume="allow", tags=["report", *cfg.tags],
                         settings=wandb.Settings(silent=True), reinit="finish_previous")
        for csv in sorted(report.glob("table_*.csv")) + sorted(report.glob("paper_*.csv")):
            run.log({csv.stem: wandb.Table(dataframe=pd.read_csv(csv))})
        runs_csv = folder.runs_csv
        if runs_csv.exists():
            run.log({"runs": wandb.Table(dataframe=pd.read_csv(runs_csv))})
        for png in sorted(report.glob("*.png")):
            run.log({png.stem: wandb.Image(str(png))})
        info = {"id": run.id, "group": run.group, "job_type": run.job_type,
                "mode": mode, "dir": str(run.dir)}
        run.finish()
        return info
    except Exception as err:  # noqa: BLE001  (never fail the grid for W&B)
        _warn_once(f"W&B summary run failed: {err}")
        return {}
