"""All runs of an experiment → one pandas DataFrame, one row per run (no torch import).

Columns: ``run_id``, ``condition``, ``seed``, ``status`` (done, failed, interrupted, running,
new), ``finished`` (bool), the final and best metrics from ``metrics.json`` (``val_top1_err``,
``best_val_top1_err``, ...; ``test_top1_err``, ... when the data has a test set),
``epochs``, ``params``, ``flops_per_image``, ``train_img_per_s``, ``wall_time_s``, then one
column per config key (dotted; lists as ``6-3-2-1`` strings).
Failed and unfinished runs are kept and flagged, never dropped silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from spp_lab.config import flatten
from spp_lab.runner.store import job_state
from spp_lab.runs import read_json
from spp_lab.runs import scalar as _scalar

TEST_METRICS = ("test_top1_err", "test_top5_err", "test_loss")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def run_row(run: Path) -> dict[str, Any]:
    status = read_json(run / "status.json") or {}
    metrics = read_json(run / "metrics.json") or {}
    try:
        cfg = yaml.load((run / "config.yaml").read_text(), Loader=_Loader) or {}
    except OSError:
        cfg = {}
    state = job_state(run)
    row: dict[str, Any] = {
        "run_id": run.name, "condition": status.get("condition", "default"),
        "seed": status.get("seed", cfg.get("train", {}).get("seed")), "status": state,
        "finished": state == "done", "attempts": status.get("attempts", 0),
        "error": status.get("error"),
    }
    final, best = metrics.get("final", {}), metrics.get("best", {})
    for k in ("val_top1_err", "val_top5_err", "val_loss", "train_loss", "train_top1_err"):
        row[k] = final.get(k)
    for k in ("val_top1_err", "val_top5_err"):
        row[f"best_{k}"] = best.get(k)
    row["best_epoch"] = best.get("epoch")
    for k in TEST_METRICS:
        row[k] = metrics.get("test", {}).get(k)
    for k in ("epochs", "params", "flops_per_image", "train_img_per_s", "wall_time_s"):
        row[k] = metrics.get(k)
    row |= {k: _scalar(v) for k, v in flatten(cfg).items()}
    return row


def collect(exp_dir: str | Path, current_only: bool = True) -> pd.DataFrame:
    """Every run folder under ``exp_dir/runs`` as a row; sorted by condition order, run id.

    With ``current_only``, only the jobs the experiment file expands to now (the run ids in
    ``experiment.json``); ``df.attrs["older_runs"]`` counts the folders left out.
    """
    spec = experiment_spec(exp_dir)
    runs = sorted(p for p in (Path(exp_dir) / "runs").glob("*") if p.is_dir())
    older = 0
    if current_only and "run_ids" in spec:
        ids = set(spec["run_ids"])
        older = sum(r.name not in ids for r in runs)
        runs = [r for r in runs if r.name in ids]
    df = pd.DataFrame([run_row(r) for r in runs])
    df.attrs["older_runs"] = older
    if df.empty:
        return df
    order = spec.get("conditions") or list(dict.fromkeys(df["condition"]))
    order += [c for c in dict.fromkeys(df["condition"]) if c not in order]
    df["condition"] = pd.Categorical(df["condition"], categories=order, ordered=True)
    return df.sort_values(["condition", "seed", "run_id"], kind="stable").reset_index(drop=True)


def experiment_spec(exp_dir: str | Path) -> dict[str, Any]:
    """What the runner saved about the experiment: conditions in order, report settings."""
    return read_json(Path(exp_dir) / "experiment.json") or {}


def save_runs(df: pd.DataFrame, exp_dir: Path) -> None:
    """``runs.csv`` and ``runs.parquet`` beside ``runs/``."""
    df.to_csv(exp_dir / "runs.csv", index=False)
    out = df.copy()
    for col in out.columns:  # parquet wants one type per column
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else
                                    json.dumps(v))
    out.to_parquet(exp_dir / "runs.parquet", index=False)
