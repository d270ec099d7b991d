"""Reports: numbers against hand-computed values and the paper, charts, determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from spp_lab.report.build import write_paper, write_report
from spp_lab.report.collect import collect, collect_runs
from spp_lab.report.paper import paper_runs, paper_table
from spp_lab.report.plots import additive_gains
from spp_lab.report.stats import additive_sentence, cell_stats, interaction, paired_deltas
from spp_lab.report.tables import comparison, to_latex, to_markdown
from spp_lab.results import RunFolder
from spp_lab.stopping import seeds_for_width as seeds_for_ci

CONDS = ["no SPP", "SPP single-size", "SPP multi-size"]
T2 = 4.302652729749464  # Student t, 0.975 quantile, 2 degrees of freedom (scipy)


def test_cell_stats_and_paired_deltas_against_hand_computed_values():
    df = pd.DataFrame({"arch": "a", "condition": ["b"] * 3 + ["s"] * 3, "seed": [0, 1, 2] * 2,
                       "err": [10.0, 12.0, 14.0, 9.0, 10.0, 12.0]})
    assert cell_stats(df.iloc[::-1], ["arch", "condition"], "err")["condition"].tolist() == \
        ["s", "b"]  # groups in the order they first appear
    st = cell_stats(df, ["arch", "condition"], "err").set_index("condition")
    assert st.loc["b", "mean"] == 12.0 and st.loc["b", "std"] == 2.0 and st.loc["b", "n"] == 3
    assert st.loc["b", "ci95"] == pytest.approx(T2 * 2 / math.sqrt(3))
    assert T2 == pytest.approx(4.303, abs=5e-4)  # the printed t table's t(0.975, 2)
    d = paired_deltas(df, "arch", "err", "b").iloc[0]  # per seed: -1, -2, -2
    assert d["mean"] == pytest.approx(-5 / 3) and d["std"] == pytest.approx(math.sqrt(1 / 3))
    assert d["ci95"] == pytest.approx(T2 * math.sqrt(1 / 3) / math.sqrt(3))
    # paired t-test by hand: t = mean / (sd/√n) = (−5/3) / (√(1/3)/√3) = −5, df 2 → p = 0.0377
    assert d["p"] == pytest.approx(0.03775, abs=5e-5)


def test_paper_gains_reproduce_the_brackets_exactly():
    table, tidy = comparison(paper_runs(), "model.arch", "val_top1_err", CONDS, "no SPP")
    assert table.loc["zf5", "SPP single-size"] == "34.98 (−1.01), n=1"
    assert table.loc["zf5", "SPP multi-size"] == "34.60 (−1.39), n=1"
    assert table.loc["overfeat7", "SPP multi-size"] == "29.68 (−2.33), n=1"
    assert not table.attrs["best"].values.any()  # one value a cell: nothing is "the best"
    top5, _ = comparison(paper_runs(), "model.arch", "val_top5_err", CONDS, "no SPP")
    assert top5.loc["zf5", "SPP single-size"] == "14.14 (−0.62), n=1"
    t = paper_table()
    assert t.loc[t["uncertain"].notna(), "top5_err"].tolist() == [11.12]
    assert "| 34.60 (−1.39), n=1 |" in to_markdown(table) and "**" not in to_markdown(table)
    assert r"\toprule" in to_latex(table) and r"\textbf" not in to_latex(table)


def _two_by_two(effect_ab: float, seeds: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [dict(seed=s, spp=a, ms=b, err=40 - 2 * a - 1 * b + effect_ab * a * b
                 + rng.normal(0, 0.1)) for s in range(seeds) for a in (0, 1) for b in (0, 1)]
    return pd.DataFrame(rows)


def test_interaction_is_zero_for_additive_and_detected_otherwise():
    add = interaction(_two_by_two(0.0), "spp", "ms", "err").set_index("effect")
    assert add.loc["main spp (1 − 0)", "mean"] == pytest.approx(-2.0, abs=0.15)
    assert add.loc["main ms (1 − 0)", "mean"] == pytest.approx(-1.0, abs=0.15)
    assert abs(add.loc["interaction", "mean"]) < add.loc["interaction", "ci95"]
    assert "additive within the uncertainty" in additive_sentence(add.reset_index(), "err")
    by_row = interaction(_two_by_two(0.0), "spp", "ms", "err", rows="spp")  # rows is a factor
    assert set(by_row["effect"]) == {"main spp (1 − 0)", "main ms (1 − 0)", "interaction"}
    non = interaction(_two_by_two(1.5), "spp", "ms", "err")
    assert non.set_index("effect").loc["interaction", "mean"] == pytest.approx(1.5, abs=0.2)
    assert "not additive" in additive_sentence(non, "err")


def test_seeds_for_ci_against_the_t_table_by_hand():
    # sd 1: n=6 gives 2.571/√6 = 1.050 > 1, n=7 gives 2.447/√7 = 0.925 ≤ 1.
    # sd 0.5: n=3 gives 4.303·0.5/√3 = 1.242, n=4 gives 3.182·0.5/2 = 0.796.
    # sd 3: n=37 gives t(36) = 2.0281·3/√37 = 1.0003 > 1, n=38 gives 2.0262·3/√38 = 0.986.
    got = seeds_for_ci(np.array([1.0, 0.5, 0.0, 3.0, np.nan, 500.0]))
    assert got[:4].tolist() == [7, 4, 2, 38]
    assert math.isnan(got[4]) and math.isinf(got[5])
    # The edges: a CI exactly as wide as asked is enough; 10,000 seeds at the most.
    assert seeds_for_ci([0.0], halfwidth=0.0).tolist() == [2]
    from spp_lab.stopping import t975

    at = lambda n: float(np.sqrt(n) / t975(n - 1)) * (1 - 1e-9)  # noqa: E731  (needs n)
    assert seeds_for_ci([at(10_000), at(10_001)]).tolist() == [10_000, math.inf]
    assert np.isnan(seeds_for_ci(pd.Series([1.0, None], dtype=object))).tolist() == [False,
                                                                                    True]


def _tidy(n_rows: int, seeds: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [{"model.arch": f"arch{i}", "condition": c, "seed": s, "finished": True,
             "err": 30 + 5 * i - 1.5 * j + rng.normal(0, 1.0)}
            for i in range(n_rows) for j, c in enumerate(CONDS) for s in range(seeds)]
    _, tidy = comparison(pd.DataFrame(rows), "model.arch", "err", CONDS, "no SPP")
    return tidy


@pytest.mark.parametrize("n_rows", [1, 2, 4])
def test_gains_chart_draws_the_tables_paired_changes_and_nothing_is_clipped(n_rows):
    from spp_lab.report.plots import gains_data

    tidy = _tidy(n_rows)
    fig = additive_gains(tidy, "model.arch")
    fig.canvas.draw()
    ax = fig.axes[0]
    data = gains_data(tidy, "model.arch")
    changes = data[~data["baseline"]]
    expected = tidy[tidy["condition"] != "no SPP"]
    # The labels are the table's baseline-relative changes and their paired CIs ...
    labels = [t.get_text() for t in ax.texts]  # annotations are texts too
    for _, r in expected.iterrows():
        assert (f"{r['delta']:+.2f}".replace("-", "−") + f" ± {r['delta_ci95']:.2f}") in labels
    # ... and each change's whisker spans exactly its paired CI (not the cell's own CI).
    spans = sorted(round(float(np.ptp(seg[:, 1])), 6) for coll in ax.collections
                   for seg in coll.get_segments() if len(seg) == 2 and seg[0, 0] == seg[1, 0])
    want = sorted(round(2 * w, 6) for w in changes["whisker"])
    assert spans == want and data[data["baseline"]]["whisker"].isna().all()  # no whisker
    assert np.allclose(changes["top"] - changes["bottom"], expected["delta"])
    # Nothing outside the figure, the legend off the axes.
    fig_box = fig.bbox
    renderer = fig.canvas.get_renderer()
    for text in [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]:
        box = text.get_window_extent(renderer)
        assert box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1, text.get_text()
        assert box.y1 <= fig_box.y1 + 1, text.get_text()
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.y1 <= ax.get_window_extent(renderer).y0  # below the plot area
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_learning_curves_one_panel_per_row_in_condition_order_small_epochs_marked():
    from spp_lab.report.plots import learning_curves

    hist = pd.DataFrame([{"model.arch": a, "condition": c, "seed": s, "epoch": e,
                          "val_top1_err": 50 - e - j, "train_size": "32" if (
                              c == "SPP multi-size" and e % 2 == 1) else "40"}
                         for a in ("zf5", "overfeat5") for j, c in enumerate(CONDS)
                         for s in range(2) for e in range(1, 5)])
    hist["condition"] = pd.Categorical(hist["condition"], CONDS, ordered=True)
    fig = learning_curves(hist, "model.arch", test_size=40)
    assert [ax.get_title() for ax in fig.axes] == ["zf5", "overfeat5"]
    legend = [t.get_text() for ax in fig.axes if ax.get_legend()
              for t in ax.get_legend().get_texts()]
    assert legend == CONDS
    assert "validation top-1 error" in fig.axes[0].get_ylabel()
    open_markers = [ln for ln in fig.axes[0].lines if ln.get_markerfacecolor() == "white"
                    and len(ln.get_xdata())]
    assert [list(ln.get_xdata()) for ln in open_markers] == [[1, 3]]  # epochs 1, 3 at 32 px
    assert fig.axes[0].get_ylim()[1] <= 100
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) and all(t == int(t) for t in ticks)  # whole epochs only


def test_tables_bold_only_a_resolved_winner_never_a_tie():
    from spp_lab.report.tables import to_html

    tie = pd.DataFrame({"arch": "a", "condition": ["x", "y", "z"] * 3, "finished": True,
                        "seed": [0, 0, 0, 1, 1, 1, 2, 2, 2],
                        "err": [10, 10, 20, 11, 11, 22.5, 12, 12, 21]})
    table, _ = comparison(tie, "arch", "err", ["x", "y", "z"], "z")
    assert not table.attrs["best"].values.any()  # x ties y: neither is resolved as lower
    alone = tie.assign(err=tie["err"] + (tie["condition"] == "y") * tie["seed"].map(
        {0: 1.0, 1: 1.5, 2: 1.2}))
    table, _ = comparison(alone, "arch", "err", ["x", "y", "z"], "z")
    assert table.attrs["best"].loc["a"].tolist() == [True, False, False]
    flat = tie.assign(err=0.0)  # every cell 0.00 (top-5 of two classes)
    table, _ = comparison(flat, "arch", "err", ["x", "y", "z"], "z")
    assert not table.attrs["best"].values.any()
    noisy = pd.DataFrame({"arch": "a", "condition": ["x", "y"] * 3, "finished": True,
                          "seed": [0, 0, 1, 1, 2, 2], "err": [10, 12, 14, 11, 12, 16]})
    table, _ = comparison(noisy, "arch", "err", ["x", "y"], "x")
    assert not table.attrs["best"].values.any()  # lowest mean, but its CI overlaps
    page = to_html(table, "caption")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<style>" in page and "<table>" in page


def test_per_axis_chart_keeps_the_file_order_and_ends_at_100():
    from spp_lab.report.plots import metric_by_axis

    st = pd.DataFrame({"model.levels": ["6-3-2-1", "1", "4-2-1"], "condition": "spp",
                       "mean": [97.0, 95.0, 96.0], "ci95": [5.0, 5.0, 5.0]})
    fig = metric_by_axis(st, "model.levels", "val_top1_err", order=["1", "4-2-1", "6-3-2-1"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4-2-1", "6-3-2-1"]
    assert ax.get_ylim()[1] <= 100


@pytest.fixture(scope="module")
def fake_experiment(tmp_path_factory):
    """A results folder as the runner writes it, with known numbers (no training)."""
    root = tmp_path_factory.mktemp("res") / "fake"
    spec = {"name": "fake", "description": "fixture", "conditions": CONDS,
            "report": {"metric": "val_top1_err", "baseline": "no SPP", "rows": "model.arch",
                       "interaction": []}, "grid": ["model.arch"], "seeds": [0, 1, 2],
            "row_order": ["zf5", "overfeat5"]}
    root.mkdir(parents=True)
    (root / "experiment.json").write_text(json.dumps(spec))
    k = 0
    for arch, base in (("zf5", 40.0), ("overfeat5", 38.0)):
        for j, cond in enumerate(CONDS):
            for seed in range(3):
                run = root / "runs" / f"run{k:04d}"
                run.mkdir(parents=True)
                k += 1
                err = base - j * 1.0 - 0.5 * seed
                (run / "config.yaml").write_text(yaml.safe_dump(
                    {"model": {"arch": arch, "levels": [4, 2, 1]}, "train": {"seed": seed}}))
                (run / "status.json").write_text(json.dumps(
                    {"state": "done", "condition": cond, "seed": seed, "attempts": 1}))
                (run / "metrics.json").write_text(json.dumps(
                    {"final": {"val_top1_err": err, "val_top5_err": err / 3},
                     "best": {"val_top1_err": err, "val_top5_err": err / 3, "epoch": 1},
                     "epochs": 2, "params": 1000, "wall_time_s": 1.0}))
                RunFolder(run).write_history([{"epoch": 0, "val_top1_err": err + 5},
                                              {"epoch": 1, "val_top1_err": err}])
    failed = root / "runs" / "zzfailed"
    failed.mkdir()
    (failed / "status.json").write_text(json.dumps({"state": "failed", "condition": "no SPP",
                                                    "seed": 9, "error": "boom"}))
    return root


def test_report_numbers_flags_and_determinism(fake_experiment):
    df = collect(fake_experiment)
    assert len(df) == 19 and df["finished"].sum() == 18
    assert df.loc[df["run_id"] == "zzfailed", "status"].item() == "failed"
    md = write_report(fake_experiment)
    text = md.read_text()
    assert "19 (18 done, 1 failed)" in text
    # zf5 no SPP: 40, 39.5, 39 → mean 39.50, sd 0.5, CI 4.303·0.5/√3 = 1.24; deltas exactly
    # −1 with no spread, which resolves nothing: no cell is bold.
    assert "| zf5 | 39.50 ± 1.24 | 38.50 ± 1.24 (−1.00 ± 0.00) | 37.50 ± 1.24 (−2.00 ± " \
           "0.00) |" in text
    assert text.index("| zf5 |") < text.index("| overfeat5 |")
    # The paper's reading: multi-size on top of SPP, paired by seed (exactly −1 here): no
    # spread, so no t-test; the sign flips of three −1s give p = 2/8
    assert ("| zf5 | SPP multi-size − SPP single-size | -1.00 ± 0.00 | 3 | – | 0.250 | no "
            "spread: no test |") in text
    # exact paired changes, no spread: within any target, yet nothing is resolved
    assert "| zf5 | SPP single-size − no SPP | -1.00 ± 0.00 | -1.00 | -1.00 | 3 | – | 0.250 " \
           "| no spread: not resolved |" in text
    assert text.index("**Methods.**") < text.index("## validation top-1 error")
    assert "Holm-adjusted over the family of the table's 4 changes against no SPP (the 2 " \
           "steps" in text and "with 3 pairs it cannot go below p = 0.25" in text
    assert "Beside the paper" in text and "| zf5 | SPP single-size | -1.00 ± 0.00 | -1.01 |" \
        in text
    out = fake_experiment / "report"
    for name in ("additive_gains.png", "additive_gains.svg", "learning_curves.png",
                 "table_val_top1_err.tex", "table_val_top1_err.html", "table_val_top5_err.md"):
        assert (out / name).stat().st_size > 0
    same = (".csv", ".md", ".svg")  # byte for byte: SVG ids are salted by the file name
    first = {p.name: p.read_bytes() for p in out.glob("*") if p.suffix in same}
    assert any(n.endswith(".svg") for n in first)
    csv_runs = (fake_experiment / "runs.csv").read_bytes()
    write_report(fake_experiment)
    assert first == {p.name: p.read_bytes() for p in out.glob("*") if p.suffix in same}
    assert csv_runs == (fake_experiment / "runs.csv").read_bytes()
    assert pd.read_parquet(fake_experiment / "runs.parquet").shape[0] == 19


def test_run_folders_read_in_processes_give_the_same_frames(fake_experiment, tmp_path):
    """Large experiments are read with a process per CPU: the same rows, order and dtypes as
    one process, corrupt and unfinished runs included, and one read of each history."""
    import shutil

    exp = tmp_path / "fake"
    shutil.copytree(fake_experiment, exp)
    (exp / "runs" / "run0003" / "metrics.json").write_text("{")
    running = RunFolder(exp / "runs" / "zzrunning")
    running.update_status(state="running", condition="no SPP", seed=5, attempts=1)
    running.write_history([{"epoch": 0, "train_size": "24-32", "val_top1_err": 70.0}])
    serial, forked = collect_runs(exp, workers=1), collect_runs(exp, workers=2)
    for a, b in zip(serial, forked):
        pd.testing.assert_frame_equal(a, b)
    runs, epochs = serial
    assert runs.set_index("run_id").loc[["run0003", "zzrunning", "zzfailed"], "status"] \
        .tolist() == ["corrupt", "interrupted", "failed"]
    assert "run0003" not in set(epochs["run_id"])  # no numbers from a corrupt run
    mine = epochs[epochs["run_id"] == "zzrunning"]  # an unfinished run's epochs so far
    assert mine[["epoch", "train_size", "val_top1_err", "lr"]].values.tolist() == [
        [1, "24-32", 70.0, None]]  # written as 0.1.0 did (from 0), read as from 1
    assert epochs.groupby("run_id").size().eq(2).sum() == 17  # 18 done, one now corrupt


def test_charts_drawn_in_forked_processes_are_the_charts_drawn_here(fake_experiment,
                                                                      tmp_path):
    from spp_lab.report.collect import with_runs
    from spp_lab.report.draw import Charts
    from spp_lab.report.plots import learning_curves

    runs, epochs = collect_runs(fake_experiment)
    hist = with_runs(epochs, runs[runs["finished"]], ["condition", "model.arch"])
    tidy = comparison(runs[runs["finished"]], "model.arch", "val_top1_err", CONDS, CONDS[0])[1]
    for parallel in (False, True):
        with Charts(parallel=parallel) as charts:
            charts.draw(tmp_path / f"lc{parallel}", learning_curves, hist, "model.arch",
                        test_size=32)
            charts.draw(tmp_path / f"gains{parallel}", additive_gains, tidy, "model.arch")
    for stem in ("lc", "gains"):
        assert (tmp_path / f"{stem}True.png").read_bytes() == \
            (tmp_path / f"{stem}False.png").read_bytes()
        assert (tmp_path / f"{stem}True.svg").stat().st_size > 0
    with pytest.raises(KeyError), Charts(parallel=True) as charts:  # a chart's error
        charts.draw(tmp_path / "bad", additive_gains, pd.DataFrame(), "model.arch")


def test_runs_of_an_earlier_experiment_file_stay_on_disk_out_of_the_tables(
        fake_experiment, tmp_path):
    """Editing the file changes run ids; the report keeps to the ids it expands to now."""
    import shutil

    exp = tmp_path / "fake"
    shutil.copytree(fake_experiment, exp)
    spec = json.loads((exp / "experiment.json").read_text())
    spec["run_ids"] = sorted(p.name for p in (exp / "runs").iterdir())
    (exp / "experiment.json").write_text(json.dumps(spec))
    before = write_report(exp).read_text()
    (exp / "report" / "table_test_top1_err.md").write_text("an earlier metric's table")
    old = exp / "runs" / "old0001"
    shutil.copytree(exp / "runs" / "run0000", old)  # zf5, no SPP, seed 0 ...
    (old / "metrics.json").write_text(json.dumps(
        {"final": {"val_top1_err": 99.0}, "best": {"val_top1_err": 99.0, "epoch": 0}}))
    text = write_report(exp).read_text()
    assert "1 run folders in `runs/` are not jobs of the experiment file as it is now" in text
    assert before.split("Runs: ")[1] == text.split("Runs: ")[1]  # same tables, same charts
    assert "old0001" not in (exp / "runs.csv").read_text() and old.is_dir()
    assert "old0001" not in set(collect(exp)["run_id"])  # the notebook's view, too
    assert "old0001" in set(collect(exp, current_only=False)["run_id"])
    assert not (exp / "report" / "table_test_top1_err.md").exists()  # tables of this report only
    assert (exp / "report" / "table_val_top1_err.md").exists()


def test_paper_report_command(tmp_path):
    md = write_paper(tmp_path / "paper")
    assert "34.98 (−1.01), n=1" in md.read_text()
    assert (tmp_path / "paper" / "paper_additive_gains.png").exists()


def test_notebook_executes_headless_on_a_results_fixture(fake_experiment, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    from tests.conftest import ROOT

    monkeypatch.setenv("SPP_LAB_RESULTS", str(fake_experiment))
    nb = nbformat.read(ROOT / "notebooks" / "analysis.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "39.50 ± 1.24" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_no_forking_while_another_thread_runs():
    """A forked child can wait forever on a lock another thread held (a notebook kernel's,
    a W&B run's): with one alive, the report draws and reads in its own process."""
    import threading

    from spp_lab.report.draw import Charts
    from spp_lab.report.parallel import can_fork

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        assert Charts()._pool is None
    finally:
        stop.set()
        other.join()


def test_a_report_says_when_its_runs_ran_in_different_environments():
    from spp_lab.report.build import mixed_environments

    runs = pd.DataFrame({"finished": [True, True, True, False],
                         "env.cpu": ["Xeon A", "Xeon A", "EPYC B", "Other C"],
                         "env.torch": ["2.14.1"] * 4, "env.device": ["cpu"] * 4})
    note = mixed_environments(runs)[0]
    assert note.startswith("These runs ran in 2 environments (Xeon A, 2.14.1, cpu; EPYC B, "
                           "2.14.1, cpu)")  # the unfinished run's machine does not count
    assert mixed_environments(runs[runs["env.cpu"] == "Xeon A"]) == []
    assert mixed_environments(runs.drop(columns=["env.cpu", "env.torch", "env.device"])) == []


def test_gains_are_drawn_from_the_baseline_wherever_it_sits_in_the_conditions():
    from spp_lab.report.plots import gains_data

    rng = np.random.default_rng(3)
    conds = ["SPP single-size", "no SPP", "SPP multi-size"]  # the baseline second
    rows = [{"model.arch": "zf5", "condition": c, "seed": s, "finished": True,
             "err": {"SPP single-size": 40.0, "no SPP": 44.0, "SPP multi-size": 39.0}[c]
             + rng.normal(0, 0.3)} for c in conds for s in range(4)]
    _, tidy = comparison(pd.DataFrame(rows), "model.arch", "err", conds, "no SPP")
    data = gains_data(tidy, "model.arch").set_index("condition")
    base = tidy.loc[tidy["condition"] == "no SPP", "mean"].item()
    assert data.loc["no SPP", "baseline"] and data["baseline"].sum() == 1
    assert data.loc[["SPP single-size", "SPP multi-size"], "bottom"].tolist() == [base, base]
    assert data.loc["SPP single-size", "change"] == pytest.approx(-4.0, abs=0.6)
