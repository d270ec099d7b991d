"""Run folders into the report's frames, cell by cell: one row per run, one per epoch, and
``runs.csv`` / ``runs.parquet`` (in process, no training)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from spp_lab.fileio import write_json
from spp_lab.report.collect import collect_runs, save_runs, with_runs
from spp_lab.results import HISTORY_FIELDS, RunFolder

CONFIG = {"model": {"arch": "zf5", "levels": [6, 3, 2, 1], "fc_dims": []},
          "train": {"seed": 7, "epochs": 4}, "data": {"num_train": 1000, "num_val": 200}}
METRICS = {"final": {"val_top1_err": 40.0, "val_top5_err": 12.5, "val_loss": 1.5,
                     "train_loss": 1.25, "train_top1_err": 30.0},
           "best": {"val_top1_err": 38.0, "val_top5_err": 11.0, "epoch": 2}, "first_epoch": 1,
           "test": {"test_top1_err": 41.0, "test_full_top1_err": 42.0, "val_loss": 99.0},
           "epochs": 4, "params": 123, "flops_per_image": 456, "train_img_per_s": 789.5,
           "wall_time_s": 10.0, "data": {"train": 900, "val": 180}}


def cells(values: list) -> list:
    """``values`` with pandas' missing markers (NaN, None) as None, nested lists too."""
    return [cells(v) if isinstance(v, list) else None if pd.isna(v) else v for v in values]


@pytest.fixture
def exp(tmp_path):
    """A done run whose status names neither condition nor seed, and a failed one."""
    root = tmp_path / "exp"
    root.mkdir()
    write_json(root / "experiment.json", {"name": "exp", "conditions": ["x", "y"],
                                          "report": {"baseline": "x"}})
    done = RunFolder(root / "runs" / "b_done")
    write_json(done.status_file, {"state": "done"})  # as an older or hand-made folder has
    done.write_config(CONFIG)
    write_json(done.metrics_file, METRICS)
    done.write_history([{"epoch": 1, "train_size": "24-32", "val_top1_err": 50.0},
                        {"epoch": 2, "train_size": "32", "val_top1_err": 40.0, "lr": 0.1},
                        {"epoch": 3}, {"epoch": 4}])  # one row per epoch of metrics.json
    failed = RunFolder(root / "runs" / "a_failed")
    failed.update_status(state="failed", condition="x", seed=3, attempts=2, error="boom",
                         cpu="Xeon X", versions={"torch": "2.14.1", "wandb": None})
    failed.write_config({"train": {"seed": 30}})  # the status's seed is the job's
    return root


def test_a_run_row_holds_every_field_of_its_files(exp):
    runs, _ = collect_runs(exp)
    row = runs.set_index("run_id").loc["b_done"].to_dict()
    assert dict(zip(row, cells(list(row.values())))) == {
        "condition": "default", "seed": 7, "status": "done", "finished": True,
        "attempts": 0, "error": None,
        "val_top1_err": 40.0, "val_top5_err": 12.5, "best_val_top1_err": 38.0,
        "best_val_top5_err": 11.0, "val_loss": 1.5, "train_loss": 1.25,
        "train_top1_err": 30.0, "test_top1_err": 41.0, "test_top5_err": None,
        "test_loss": None, "test_full_top1_err": 42.0,  # a view joins; val_loss stays final
        "best_epoch": 2, "epochs": 4, "params": 123, "flops_per_image": 456,
        "train_img_per_s": 789.5, "wall_time_s": 10.0, "notes": None,
        "model.arch": "zf5", "model.levels": "6-3-2-1", "model.fc_dims": "none",
        "train.seed": 7, "train.epochs": 4,
        "data.num_train": 900, "data.num_val": 180,  # the real split sizes, from metrics
        "env.cpu": None, "env.torch": None, "env.device": None,  # an older folder: unknown
    }
    bad = runs.set_index("run_id").loc["a_failed"]
    assert (bad["condition"], bad["seed"], bad["status"], bad["finished"], bad["attempts"],
            bad["error"]) == ("x", 3, "failed", False, 2, "boom")
    assert bad[["val_top1_err", "best_epoch", "epochs", "model.arch"]].isna().all()
    assert (bad["env.cpu"], bad["env.torch"]) == ("Xeon X", "2.14.1")  # where it ran


def test_rows_follow_the_experiment_conditions_then_seed(exp):
    runs, _ = collect_runs(exp)
    assert runs["run_id"].tolist() == ["a_failed", "b_done"]  # x, then one not in the file
    assert runs["condition"].cat.categories.tolist() == ["x", "y", "default"]
    assert runs["condition"].cat.ordered  # sorts and compares in the file's order


def test_a_run_with_an_unreadable_config_keeps_its_row_and_no_run_has_epochs(exp):
    import shutil

    shutil.rmtree(exp / "runs" / "b_done")
    (exp / "runs" / "a_failed" / "config.json").write_text("{")
    runs, epochs = collect_runs(exp)
    assert runs[["run_id", "status", "seed", "error"]].values.tolist() == [
        ["a_failed", "failed", 3, "boom"]]
    assert "train.seed" not in runs
    assert epochs.columns.tolist() == [*HISTORY_FIELDS, "run_id"] and epochs.empty


def test_epochs_keep_their_run_and_join_its_columns(exp):
    runs, epochs = collect_runs(exp)
    assert cells(epochs[["run_id", "epoch", "train_size", "val_top1_err", "lr"]].values
                 .tolist()) == [["b_done", 1, "24-32", 50.0, None], ["b_done", 2, "32", 40.0, 0.1],
                                ["b_done", 3, "", None, None], ["b_done", 4, "", None, None]]
    joined = with_runs(epochs, runs, ["condition", "run_id", "model.arch"])
    assert joined.columns[-3:].tolist() == ["run_id", "condition", "model.arch"]
    assert joined[["epoch", "condition", "model.arch"]].values.tolist() == [
        [e, "default", "zf5"] for e in range(1, 5)]
    assert with_runs(epochs, runs[~runs["finished"]], ["condition"]).empty


def test_runs_csv_and_parquet_hold_the_same_table(exp):
    runs, _ = collect_runs(exp)
    runs["extra"] = [[1, 2], None]  # a list cell: JSON in parquet, which wants one type
    save_runs(runs, exp)
    csv = pd.read_csv(exp / "runs.csv")
    pq = pd.read_parquet(exp / "runs.parquet")
    import pyarrow.parquet

    assert pyarrow.parquet.read_schema(exp / "runs.parquet").names == runs.columns.tolist()
    assert csv.columns.tolist() == pq.columns.tolist() == runs.columns.tolist()
    assert cells(pq["extra"].tolist()) == ["[1, 2]", None]
    assert cells(pq["model.levels"].tolist()) == [None, "6-3-2-1"]
    assert pq["condition"].astype(str).tolist() == csv["condition"].tolist() == ["x", "default"]
    assert pq["val_top1_err"].iloc[1] == csv["val_top1_err"].iloc[1] == 40.0
    assert math.isnan(pq["val_top1_err"].iloc[0])
    assert json.loads(pq["extra"].iloc[0]) == [1, 2]


def test_epochs_come_in_the_order_of_the_runs_given():
    runs = pd.DataFrame({"run_id": ["b", "a", "c"], "condition": ["y", "x", "z"]})
    epochs = pd.DataFrame({"epoch": [0, 1, 0, 0], "run_id": ["a", "a", "b", "d"]})
    epochs = epochs.reindex(columns=[*HISTORY_FIELDS, "run_id"])
    out = with_runs(epochs, runs, ["condition"])
    assert out[["run_id", "epoch", "condition"]].values.tolist() == [
        ["b", 0, "y"], ["a", 0, "x"], ["a", 1, "x"]]  # c has no epochs, d no run


def test_a_run_with_an_unreadable_status_is_corrupt_with_neutral_fields(exp):
    (exp / "runs" / "b_done" / "status.json").write_text("not json")
    runs, epochs = collect_runs(exp)
    row = runs.set_index("run_id").loc["b_done"]
    assert (row["status"], row["condition"], row["seed"], row["attempts"]) == (
        "corrupt", "default", 7, 0)
    assert "status.json" in row["error"] and pd.isna(row["val_top1_err"])
    assert "b_done" not in set(epochs["run_id"])  # no numbers from a corrupt run


def test_processes_read_the_folders_from_parallel_from_runs_on_where_forking_is_safe(
        tmp_path, monkeypatch):
    from spp_lab.report import collect

    runs = []
    for i in range(4):
        run = RunFolder(tmp_path / f"r{i}")
        run.update_status(state="failed", error=str(i))
        runs.append(run)
    pools = []
    real = collect.fork_pool
    monkeypatch.setattr(collect, "fork_pool", lambda n: pools.append(n) or real(n))
    n = collect.PARALLEL_FROM
    assert collect.default_workers(n - 1, 16, True) == 1  # below the threshold: this process
    assert collect.default_workers(n, 16, True) == 8  # ≤ 8 workers
    assert collect.default_workers(n, 3, True) == 3
    assert collect.default_workers(10 * n, 16, False) == 1  # forking unsafe: this process
    serial = collect.read_runs(runs[:3])[0]
    assert pools == [] and serial["error"].tolist() == ["0", "1", "2"]
    forked = collect.read_runs(runs, workers=3)[0]
    assert pools == [3] and forked["error"].tolist() == ["0", "1", "2", "3"]
    collect.read_runs(runs[:1], workers=2)  # asked for: forked whatever the size
    collect.read_runs(runs, workers=1)  # asked for: this process
    assert pools == [3, 2]
