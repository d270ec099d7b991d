"""All runs of an experiment → one pandas DataFrame, one row per run (no torch import).

Columns: ``run_id``, ``condition``, ``seed``, ``status`` (a state of
:data:`spp_lab.results.STATES`), ``finished`` (bool: done), ``error`` (why a run failed,
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
from spp_lab.fileio import Corrupt
from spp_lab.metrics import metrics as registered_metrics
from spp_lab.report.parallel import can_fork, cpus, fork_pool
from spp_lab.results import ExperimentFolder, RunFolder, Snapshot, history_fields
from spp_lab.runs import scalar as _scalar

# Run folders from which reading them takes a process per CPU: below this, starting the
# processes costs more than it saves.
PARALLEL_FROM = 2000


def run_row(snap: Snapshot, run_id: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """One run's row from what :meth:`RunFolder.read` read and its config."""
    state, status, metrics = snap.state, snap.status, snap.metrics or {}
    row: dict[str, Any] = {
        "run_id": run_id, "condition": status.get("condition", "default"),
        "seed": status.get("seed", (cfg.get("train") or {}).get("seed")),
        "status": state.state, "finished": state.state == "done",
        "attempts": status.get("attempts", 0), "error": state.reason,
    }
    for m in registered_metrics().values():
        section, key = m.source
        row[m.name] = (metrics.get(section) or {}).get(key)
    row |= {k: v for k, v in (metrics.get("test") or {}).items() if k not in row}  # views
    row["best_epoch"] = (metrics.get("best") or {}).get("epoch")
    for k in ("epochs", "params", "flops_per_image", "train_img_per_s", "wall_time_s"):
        row[k] = metrics.get(k)
    row["notes"] = " | ".join(metrics.get("notes") or []) or None  # spp_lab.diagnose
    row |= {k: _scalar(v) for k, v in flatten(cfg).items()}
    for split, n in (metrics.get("data") or {}).items():  # the real split sizes
        row[f"data.num_{split}"] = n
    # where it ran: runs of one config on two CPUs (or torch versions) differ in the digits
    row["env.cpu"] = status.get("cpu")
    row["env.torch"] = (status.get("versions") or {}).get("torch")
    row["env.device"] = metrics.get("device")
    return row


def read_run(run: RunFolder) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run's row and its history rows; a corrupt file makes the run ``corrupt`` (kept,
    flagged), never a crash and never a number read from a broken file."""
    snap, cfg = run.read(), {}
    with contextlib.suppress(Corrupt):  # the state says so already
        cfg = run.read_config()
    return run_row(snap, run.run_id, cfg), snap.history or []


def read_frames(paths: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs at ``paths`` as rows, and their epochs (with ``run_id``), as two frames:
    what a worker process hands back (a frame pickles by column, a row dict by key)."""
    rows, epochs, ids = [], [], []
    for path in paths:
        row, hist = read_run(RunFolder(path))
        rows.append(row)
        epochs += hist
        ids += [row["run_id"]] * len(hist)
    columns = list(dict.fromkeys([*history_fields(), *(k for r in epochs for k in r)]))
    out = pd.DataFrame(epochs, columns=columns)
    out["run_id"] = ids
    return pd.DataFrame(rows), out


def default_workers(n_runs: int, cores: int, forking_safe: bool) -> int:
    """Processes that read ``n_runs`` folders: 1 below :data:`PARALLEL_FROM` runs (a fork
    costs more than it saves) or where forking is unsafe, else one per core up to 8."""
    return min(cores, 8) if n_runs >= PARALLEL_FROM and forking_safe else 1


def read_runs(runs: list[RunFolder], workers: int | None = None
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`read_frames` of ``runs``, in order; in ``workers`` forked processes when
    given, or by default from :data:`PARALLEL_FROM` runs on, where forking is safe
    (:mod:`.parallel`)."""
    if workers is None:
        workers = default_workers(len(runs), cpus(), can_fork())
    paths = [str(r.path) for r in runs]
    if workers < 2:
        return read_frames(paths)
    size = -(-len(paths) // (4 * workers))
    with fork_pool(workers) as pool:
        parts = list(pool.map(read_frames, [paths[i:i + size]
                                            for i in range(0, len(paths), size)]))
    # A column that is all None in one part is object there; infer_objects gives the
    # dtypes one frame of every row would have had.
    return tuple(pd.concat([p[k] for p in parts], ignore_index=True).infer_objects()
                 for k in (0, 1))


def collect(exp_dir: str | Path, current_only: bool = True) -> pd.DataFrame:
    """Every run folder under ``exp_dir/runs`` as a row; sorted by condition order, run id.

    With ``current_only``, only the jobs the experiment file expands to now (the run ids in
    ``experiment.json``); ``df.attrs["older_runs"]`` counts the folders left out. A folder
    that is not an experiment raises a :class:`UserError`.
    """
    return collect_runs(exp_dir, current_only)[0]


def collect_runs(exp_dir: str | Path, current_only: bool = True,
                 workers: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`collect`'s runs, and one row per epoch of each (its ``history.csv``, with a
    ``run_id`` column; nothing from a corrupt run), from one read of each run folder."""
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
    df, epochs = read_runs(runs, workers)
    df.attrs["older_runs"] = older
    if df.empty:
        return df, epochs
    order = list(spec.conditions)
    order += [c for c in dict.fromkeys(df["condition"]) if c not in order]
    df["condition"] = pd.Categorical(df["condition"], categories=order, ordered=True)
    df = df.sort_values(["condition", "seed", "run_id"], kind="stable")
    return df.reset_index(drop=True), epochs


def with_runs(epochs: pd.DataFrame, runs: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """The epochs of the runs in ``runs``, in their order, each with the run's ``keep``
    columns (``run_id`` among them)."""
    keep = list(dict.fromkeys(["run_id", *keep]))
    out = runs[keep].merge(epochs, on="run_id", how="inner", sort=False)
    return out[[*(c for c in epochs.columns if c not in keep), *keep]]


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
