"""All runs of an experiment → one pandas DataFrame, one row per run (no torch import).

Columns: ``run_id``, ``condition``, ``seed``, ``status`` (a state of
:data:`spp_lab.runfolder.STATES`), ``finished`` (bool: done), ``error`` (why a run failed,
diverged or is corrupt), the final and best metrics from ``metrics.json`` (``val_top1_err``,
``best_val_top1_err``, ...; ``test_top1_err``, ... when the data has a test set),
``epochs``, ``params``, ``flops_per_image``, ``train_img_per_s``, ``wall_time_s``, then one
column per config key (dotted; lists as ``6-3-2-1`` strings).
Failed and unfinished runs are kept and flagged, never dropped silently.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from spp_lab.config import flatten
from spp_lab.errors import UserError
from spp_lab.metrics import METRICS
from spp_lab.runfolder import Corrupt, ExperimentFolder, RunFolder
from spp_lab.runs import scalar as _scalar


def run_row(run: RunFolder) -> dict[str, Any]:
    """One run's row; a corrupt file makes the run ``corrupt`` (kept, flagged), never a
    crash and never a number read from a broken file."""
    snap = run.read()
    state, status, metrics, cfg = snap.state, snap.status, snap.metrics or {}, {}
    with contextlib.suppress(Corrupt):  # the state says so already
        cfg = run.read_config()
    row: dict[str, Any] = {
        "run_id": run.run_id, "condition": status.get("condition", "default"),
        "seed": status.get("seed", (cfg.get("train") or {}).get("seed")),
        "status": state.state, "finished": state.state == "done",
        "attempts": status.get("attempts", 0), "error": state.reason,
    }
    for m in METRICS.values():
        section, key = m.source
        row[m.name] = (metrics.get(section) or {}).get(key)
    row |= {k: v for k, v in (metrics.get("test") or {}).items() if k not in row}  # views
    row["best_epoch"] = (metrics.get("best") or {}).get("epoch")
    for k in ("epochs", "params", "flops_per_image", "train_img_per_s", "wall_time_s"):
        row[k] = metrics.get(k)
    row |= {k: _scalar(v) for k, v in flatten(cfg).items()}
    for split, n in (metrics.get("data") or {}).items():  # the real split sizes
        row[f"data.num_{split}"] = n
    return row


def collect(exp_dir: str | Path, current_only: bool = True) -> pd.DataFrame:
    """Every run folder under ``exp_dir/runs`` as a row; sorted by condition order, run id.

    With ``current_only``, only the jobs the experiment file expands to now (the run ids in
    ``experiment.json``); ``df.attrs["older_runs"]`` counts the folders left out. A folder
    that is not an experiment raises a :class:`UserError`.
    """
    folder = ExperimentFolder(exp_dir)
    if not folder.exists():
        raise UserError(f"{folder.path}: not an experiment folder (no runs/ inside); run "
                        "`spp-lab run FILE` first, or give results/<name>")
    try:
        spec = folder.spec()
    except Corrupt as err:
        raise UserError(f"{err}; `spp-lab report FILE.yaml` rewrites it from the "
                        "experiment file") from None
    runs, older = folder.run_folders(current_only)
    df = pd.DataFrame([run_row(r) for r in runs])
    df.attrs["older_runs"] = older
    if df.empty:
        return df
    order = list(spec.conditions)
    order += [c for c in dict.fromkeys(df["condition"]) if c not in order]
    df["condition"] = pd.Categorical(df["condition"], categories=order, ordered=True)
    return df.sort_values(["condition", "seed", "run_id"], kind="stable").reset_index(drop=True)


def collect_history(exp_dir: str | Path, runs: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """One row per epoch of each run in ``runs`` (its ``history.csv``), with the run's
    ``keep`` columns (``run_id`` among them); corrupt histories are left out."""
    folder, records = ExperimentFolder(exp_dir), []
    keep = list(dict.fromkeys(keep))
    for values in runs[keep].itertuples(index=False, name=None):
        tags = dict(zip(keep, values))
        try:
            hist = folder.run(tags["run_id"]).history_rows()
        except Corrupt:
            continue
        records += [{**h, **tags} for h in hist]  # one DataFrame at the end: fast at 10,000
    out = pd.DataFrame(records)
    if "condition" in keep and not out.empty:
        out["condition"] = pd.Categorical(out["condition"], runs["condition"].cat.categories,
                                          ordered=True)
    return out


def save_runs(df: pd.DataFrame, exp_dir: Path) -> None:
    """``runs.csv`` and ``runs.parquet`` beside ``runs/``."""
    folder = ExperimentFolder(exp_dir)
    df.to_csv(folder.runs_csv, index=False)
    out = df.copy()
    for col in out.columns:  # parquet wants one type per column
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else
                                    json.dumps(v))
    out.to_parquet(folder.runs_parquet, index=False)
