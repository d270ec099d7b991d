"""An upgrade never throws finished work away: the results folder that spp-lab 0.1.0 wrote
(tests/fixtures/release-0.1.0/) stays ``done``, with its run ids and numbers, after config
fields, a metric (a history column) and plug-ins have been added since. Its file relied on
one default that 0.2.0 changed (``model.dropout``); spp-lab says so and names the pin."""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest

from tests.conftest import ROOT, spp_lab

FIXTURE = ROOT / "tests/fixtures"
IDS = {"1e41a8801e", "c309d2d499", "76c1826b66", "161f2dd3c3"}
PIN = ["--set", "model.dropout=0.5"]  # the 0.1.0 default the file relied on


@pytest.fixture
def old(tmp_path):
    shutil.copytree(FIXTURE / "release-0.1.0", tmp_path / "results/release-0.1.0")
    shutil.copy(FIXTURE / "release-0.1.0.yaml", tmp_path)
    return tmp_path


def _plugins(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    names = ("toy_head", "toy_data", "toy_metric", "toy_executor")
    for name in names:
        shutil.copy(ROOT / "tests/plugins" / f"{name}.py", folder)
    return {"SPP_LAB_PLUGINS": ",".join(names),
            "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


@pytest.mark.parametrize("with_plugins", [False, True], ids=["as-is", "plus-a-metric"])
def test_runs_of_0_1_0_stay_done_with_their_ids(old, with_plugins):
    env = _plugins(old) if with_plugins else {}
    proc = spp_lab("ls", "release-0.1.0.yaml", "--json", *PIN, cwd=old, env=env)
    assert proc.returncode == 0, proc.stderr
    jobs = json.loads(proc.stdout)["jobs"]
    assert {j["run_id"]: j["status"] for j in jobs} == dict.fromkeys(IDS, "done")

    run = spp_lab("run", "release-0.1.0.yaml", *PIN, cwd=old, env=env)
    assert run.returncode == 0 and "0 to run · 4 skipped" in run.stdout, run.stdout


def test_the_report_reads_old_runs_with_a_new_metric_as_empty(old):
    proc = spp_lab("report", "results/release-0.1.0", cwd=old, env=_plugins(old))
    assert proc.returncode == 0, proc.stderr
    with open(old / "results/release-0.1.0/runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["run_id"]: r["status"] for r in rows} == dict.fromkeys(IDS, "done")
    assert all(r["val_conf"] == "" for r in rows)  # 0.1.0 never recorded it: empty
    numbers = json.loads((FIXTURE / "release-0.1.0/runs/1e41a8801e/metrics.json").read_text())
    row = next(r for r in rows if r["run_id"] == "1e41a8801e")
    assert float(row["test_top1_err"]) == pytest.approx(numbers["test"]["test_top1_err"])
    # 0.1.0 counted epochs from 0; read back, they count from 1 as everywhere now
    assert numbers["best"]["epoch"] == 0 and float(row["best_epoch"]) == 1.0
    from spp_lab import load_history

    hist = load_history(old / "results/release-0.1.0")
    assert hist.groupby("run_id")["epoch"].agg(list).map(tuple).unique().tolist() == [(1, 2)]


def test_a_file_that_relied_on_a_changed_default_is_told_what_to_pin(old):
    proc = spp_lab("ls", "release-0.1.0.yaml", cwd=old)
    assert proc.returncode == 0 and "4 jobs · 4 new" in proc.stdout
    assert ("4 new job(s) equal done runs in results/release-0.1.0/runs made under 0.1.0's "
            "defaults; to keep those runs, set in base: model.dropout: 0.5") in proc.stderr
    pinned = spp_lab("ls", "release-0.1.0.yaml", *PIN, cwd=old)
    assert "4 done" in pinned.stdout and "warning" not in pinned.stderr


def test_a_checkpoint_of_0_1_0_resumes_with_epochs_counted_from_1(tmp_path):
    """The history rows inside a 0.1.0 checkpoint count from 0; resumed, they count from 1
    like the rows the resumed attempt appends (no file mixes the two)."""
    from spp_lab.callbacks import History
    from spp_lab.results import RunFolder

    old = History(RunFolder(tmp_path / "r"))
    old.load_state_dict({"rows": [{"epoch": 0, "val_top1_err": 50.0},
                                  {"epoch": 1, "val_top1_err": 40.0}]})
    assert [r["epoch"] for r in old.rows] == [1, 2]
    new = History(RunFolder(tmp_path / "s"))
    new.load_state_dict({"rows": [{"epoch": 1, "val_top1_err": 50.0}]})
    assert [r["epoch"] for r in new.rows] == [1]
