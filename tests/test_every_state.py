"""A results folder holding a job in every state, its baseline second of three conditions,
seeds missing from some cells: the report, ``runs.csv`` and ``load_runs`` are checked to
the character against numbers worked out by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from spp_lab import load_runs
from spp_lab.report.build import write_report
from spp_lab.results import RunFolder

CONDS = ["SPP single-size", "no SPP", "SPP multi-size"]  # the baseline is not first
# Final val_top1_err per seed 0-3; None: no finished run (its state is in OTHER, else new).
DONE = {("zf5", "no SPP"): [40, 42, 44, 46], ("zf5", "SPP single-size"): [39, 40, 42, None],
        ("zf5", "SPP multi-size"): [38, None, None, None],
        ("overfeat5", "no SPP"): [50, 52, 57, None],
        ("overfeat5", "SPP single-size"): [48, 51, None, None],
        ("overfeat5", "SPP multi-size"): [None] * 4}
OTHER = {("zf5", "SPP single-size", 3): "failed", ("zf5", "SPP multi-size", 1): "diverged",
         ("zf5", "SPP multi-size", 2): "interrupted", ("zf5", "SPP multi-size", 3): "corrupt",
         ("overfeat5", "no SPP", 3): "running"}


def _run_id(arch: str, cond: str, seed: int) -> str:
    return f"{arch[:2]}{CONDS.index(cond)}s{seed}"


def _write(root, arch, cond, seed, err, state) -> RunFolder:
    run = RunFolder(root / "runs" / _run_id(arch, cond, seed))
    run.path.mkdir(parents=True)
    (run.path / "config.yaml").write_text(yaml.safe_dump(
        {"model": {"arch": arch}, "train": {"seed": seed}}))
    status = {"state": "done" if state == "corrupt" else state, "condition": cond,
              "seed": seed, "attempts": 1}
    if state in ("failed", "diverged"):
        status["error"] = f"{state} on purpose"
    (run.path / "status.json").write_text(json.dumps(status))
    if state == "done":
        (run.path / "metrics.json").write_text(json.dumps(
            {"final": {"val_top1_err": err}, "best": {"val_top1_err": err, "epoch": 1},
             "epochs": 2}))
        run.write_history([{"epoch": 0, "val_top1_err": err + 5},
                           {"epoch": 1, "val_top1_err": err}])
    if state == "corrupt":
        (run.path / "metrics.json").write_text("{")
    return run


@pytest.fixture
def every_state(tmp_path):
    root, ids, held = tmp_path / "every", [], []
    for (arch, cond), errs in DONE.items():
        for seed, err in enumerate(errs):
            ids.append(_run_id(arch, cond, seed))
            state = "done" if err is not None else OTHER.get((arch, cond, seed), "new")
            if state != "new":
                run = _write(root, arch, cond, seed, err, state)
                if state == "running":  # another runner holds it now
                    assert run.lock.acquire()
                    held.append(run)
    (root / "experiment.json").write_text(json.dumps({
        "name": "every", "description": "", "conditions": CONDS, "run_ids": ids,
        "report": {"metric": "val_top1_err", "baseline": "no SPP", "rows": "model.arch",
                   "interaction": []},
        "grid": ["model.arch"], "seeds": [0, 1, 2, 3], "row_order": ["zf5", "overfeat5"]}))
    yield root
    for run in held:
        run.lock.release()


def test_every_state_is_counted_once_and_only_done_runs_are_numbers(every_state):
    text = write_report(every_state).read_text()
    assert "Runs: 24 (6 new, 1 running, 13 done, 1 failed, 1 diverged, 1 interrupted, " \
           "1 corrupt)." in text
    want = {_run_id(a, c, s): ("done" if e is not None else OTHER.get((a, c, s)))
            for (a, c), errs in DONE.items() for s, e in enumerate(errs)}
    want = {k: v for k, v in want.items() if v}  # the new ones have no folder, no row
    for frame in (pd.read_csv(every_state / "runs.csv"), load_runs(every_state)):
        got = frame.set_index("run_id")
        assert got["status"].to_dict() == want
        assert got["finished"].to_dict() == {k: v == "done" for k, v in want.items()}
        assert got.loc[got["status"] != "done", "val_top1_err"].isna().all()
    assert pd.read_csv(every_state / "runs.csv").set_index("run_id").loc[
        "zf2s1", "error"] == "diverged on purpose"


def test_tables_are_against_the_named_baseline_to_the_digit(every_state):
    text = write_report(every_state).read_text()
    # zf5: no SPP 40 42 44 46 → 43.00, sd √(20/3), t(0.975, 3) = 3.182 → ± 4.11;
    # single-size 39 40 42 → 40.33 ± 4.303·√(7/3)/√3 = 3.79, paired −1 −2 −2 → −1.67 ± 1.43;
    # multi-size: one seed, 38 − 40 = −2, shown as a value with n, no CI. The paired t of
    # −1 −2 −2 is −5.0 (2 df): p = 0.038, the family's only test: different (starred).
    assert "| model.arch | SPP single-size | no SPP | SPP multi-size |" in text
    assert "| zf5 | 40.33 ± 3.79 (−1.67 ± 1.43)* | 43.00 ± 4.11 | 38.00 (−2.00), n=1 |" \
        in text
    # overfeat5: no SPP 50 52 57 → 53.00 ± 4.303·√13/√3 = 8.96 (seed 3 is running);
    # single-size two seeds: values, not a CI; multi-size: nothing finished.
    assert "| overfeat5 | 48.00 / 51.00 (−2.00 / −1.00), n=2 | 53.00 ± 8.96 |  |" in text
    assert text.index("| zf5 | 40.33") < text.index("| overfeat5 | 48.00")
    tables = text.split("## validation top-1 error")[1].split("## Step by step")[0]
    assert "**" not in tables  # no cell is different from every other of its row
    # both steps go from or to the baseline: the table's changes already, not repeated
    assert "## Step by step" not in text and "no SPP − SPP single-size" not in text
    assert "| zf5 | SPP multi-size | -2.00 (n=1) | -1.39 |" in text  # beside the paper
    assert "| overfeat5 | SPP single-size | -1.50 (n=2) | -1.26 |" in text
    # per change: CI, median, IQM (n=3: nothing trimmed), seeds, and the verdict at ±1
    assert "| zf5 | SPP single-size − no SPP | -1.67 ± 1.43 | -2.00 | -1.67 | 3 | 0.038 | " \
           "0.250 | unresolved at ±1.43 after 3 seeds; ±1 would need ≈ 4 seeds at SD 0.58 |" \
        in text
    assert "| zf5 | SPP multi-size − no SPP | -2.00 | -2.00 | -2.00 | 1 | – | – | n=1: too " \
           "few seeds for a CI |" in text
    # the t-test calls it different, sign flips of 3 pairs cannot (p ≥ 0.25): said
    assert "- zf5, SPP single-size: different by the t-test but not by sign flips" in text
    # the floor is that of the fewest pairs tested (3), not of a 1-seed change
    assert "it disagrees with the t-test's verdict on 1 of 3 changes (listed under Seeds " \
        "and precision); with 3 pairs it cannot go below p = 0.25." in text
    assert "steps between" not in text
    assert "Seeds: fixed (0, 1, 2, 3), no stopping rule" in text
    gains = pd.read_csv(every_state / "report/additive_gains.csv")
    assert gains.loc[gains["baseline"], "condition"].unique().tolist() == ["no SPP"]


GRID = """\
name: rerun
base:
  output_dir: results
  model: {width: 0.125, fc_dim: 32}
  data: {image_size: 32, num_train: 64, num_val: 32}
  train: {epochs: 2}
conditions:
  SPP: {model.head: spp}
  no SPP: {model.head: pool}
seeds: [0, 1, 2, 3]
report: {baseline: no SPP}
"""
# (condition, seed) → the state the folder is put in; the rest stay new
MADE = {("SPP", 0): "done", ("SPP", 1): "failed", ("SPP", 2): "diverged",
        ("SPP", 3): "running", ("no SPP", 0): "interrupted", ("no SPP", 2): "corrupt"}


def test_a_rerun_takes_exactly_the_jobs_its_flags_name(tmp_path):
    """``run`` reruns new, interrupted and corrupt jobs; ``--retry-failed`` adds failed and
    diverged ones; ``--force`` adds done ones; nothing takes a job another runner holds, or
    touches its folder."""
    from tests.conftest import spp_lab

    (tmp_path / "rerun.yaml").write_text(GRID)
    jobs = json.loads(spp_lab("ls", "rerun.yaml", "--json", cwd=tmp_path).stdout)["jobs"]
    ids = {(j["condition"], j["seed"]): j["run_id"] for j in jobs}
    held = None
    for (cond, seed), state in MADE.items():
        run = _write(tmp_path / "results/rerun", "zf5", CONDS[0], seed,
                     40.0 if state == "done" else None, state)
        run.path.rename(run.path.with_name(ids[cond, seed]))
        run = RunFolder(run.path.with_name(ids[cond, seed]))
        run.update_status(condition=cond)
        if state == "running":
            assert run.lock.acquire()
            held = run
    try:
        listed = json.loads(spp_lab("ls", "rerun.yaml", "--json", cwd=tmp_path).stdout)
        assert {(j["condition"], j["seed"]): j["status"] for j in listed["jobs"]} == \
            {k: MADE.get(k, "new") for k in ids}

        def would_run(*flags: str) -> set[tuple[str, int]]:
            proc = spp_lab("run", "rerun.yaml", "--dry-run", *flags, cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr
            named = {line.split()[2] for line in proc.stdout.splitlines()
                     if line.startswith("  would run")}
            return {k for k, rid in ids.items() if rid in named}

        rerun = {("no SPP", 0), ("no SPP", 1), ("no SPP", 2), ("no SPP", 3)}
        assert would_run() == rerun
        assert would_run("--retry-failed") == rerun | {("SPP", 1), ("SPP", 2)}
        assert would_run("--force") == rerun | {("SPP", 0), ("SPP", 1), ("SPP", 2)}
        assert would_run("--force", "--retry-failed") == would_run("--force")
        before = {p.name: p.read_bytes() for p in held.path.iterdir() if p.is_file()}
        proc = spp_lab("run", "rerun.yaml", "--force", "--only", "condition=SPP,seed=3",
                       "--no-report", cwd=tmp_path)
        assert "0 to run · 1 skipped" in proc.stdout, proc.stdout + proc.stderr
        assert {p.name: p.read_bytes() for p in held.path.iterdir() if p.is_file()} == before
    finally:
        held.lock.release()
