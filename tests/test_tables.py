"""Comparison tables and their statistics, exact: cells and bold marks by hand, the
Markdown, LaTeX and HTML writers, row and condition order, and paired p-values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from spp_lab.report.stats import cell_stats, paired_deltas
from spp_lab.report.tables import comparison, to_latex, to_markdown


def test_one_seed_says_n1_instead_of_an_interval():
    df = pd.DataFrame({"arch": "a", "condition": ["b", "s"], "seed": 0, "err": [10.0, 9.0],
                       "finished": True})
    table, _ = comparison(df, "arch", "err", ["b", "s"], "b")
    assert table.loc["a", "b"] == "10.00, n=1" and table.loc["a", "s"] == "9.00 (−1.00), n=1"


def test_table_formats_exactly():
    from spp_lab.report.tables import markdown_table, to_html

    t = pd.DataFrame({"no SPP": ["40.00 ± 1.00", "30.00"],
                      "SPP_1": ["38.50 (−1.50)*", "31.00 (+1.00)"]},
                     index=pd.Index(["zf5", "of_5"], name="model.arch"))
    t.attrs["best"] = pd.DataFrame({"no SPP": [False, True], "SPP_1": [True, False]}, t.index)
    assert to_markdown(t, "top-1 err %") == (
        "**top-1 err %**\n\n| model.arch | no SPP | SPP_1 |\n|---|---|---|\n"
        "| zf5 | 40.00 ± 1.00 | **38.50 (−1.50)*** |\n| of_5 | **30.00** | 31.00 (+1.00) |\n")
    assert to_latex(t, "top-1 err, % (n=3)") == "\n".join([
        r"\begin{table}[t]", r"\centering", r"\begin{tabular}{lcc}", r"\toprule",
        r"model.arch & no SPP & SPP\_1 \\", r"\midrule",
        r"zf5 & 40.00 $\pm$ 1.00 & \textbf{38.50 ($-$1.50)$^*$} \\",
        r"of\_5 & \textbf{30.00} & 31.00 (+1.00) \\", r"\bottomrule", r"\end{tabular}",
        r"\caption{top-1 err, \% (n=3)}", r"\end{table}", ""])
    page = to_html(t, "top-1 err: <b>")
    assert page.startswith('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                           "<title>top-1 err</title><style>body{")
    assert page[page.index("<table>"):] == (
        "<table><caption>top-1 err: &lt;b&gt;</caption><thead><tr><th>model.arch</th>"
        "<th>no SPP</th><th>SPP_1</th></tr></thead><tbody><tr><th>zf5</th><td>40.00 ± 1.00"
        "</td><td><b>38.50 (−1.50)*</b></td></tr><tr><th>of_5</th><td><b>30.00</b></td>"
        "<td>31.00 (+1.00)</td></tr></tbody></table>\n</body></html>\n")
    bare = pd.DataFrame({"a": ["1"]}, index=pd.Index(["r"]))  # no index name, no best mask
    assert to_markdown(bare) == "|  | a |\n|---|---|\n| r | 1 |\n"
    assert "\\toprule\n & a \\\\\n\\midrule\nr & 1 \\\\\n\\bottomrule\n\\end{tabular}\n" \
        "\\end{table}\n" in to_latex(bare)
    assert "<title>spp-lab table</title>" in to_html(bare) and \
        "<table><thead><tr><th></th><th>a</th></tr></thead>" in to_html(bare)
    assert markdown_table(["a", "b"], [[1.23456, "x"], [2, 0.5]]) == \
        "| a | b |\n|---|---|\n| 1.235 | x |\n| 2 | 0.500 |"


def test_cells_and_bold_by_hand_and_no_ci_below_three_seeds():
    vals = {"x": {"b": (30, 31, 32), "s": (8, 10, 9), "t": (18, 20, 22)},
            "z": {"b": (8, 9, 10), "s": (20, 22, 21)},  # no t in this row
            "v": {"b": (5, 6, 7)},  # one condition only
            "w": {"b": (30, 31, 32), "s": (8, 9, 10), "u": (8, 9, 10), "t": (10, 12, 11)},
            "y": {"b": (30, 31), "s": (8, 9)}}  # two seeds: values, never a CI
    order = ["b", "s", "u", "t"]
    df = pd.DataFrame([{"row": r, "condition": c, "seed": i, "finished": True, "err": float(e)}
                       for r, cs in vals.items() for c, es in cs.items()
                       for i, e in enumerate(es)])
    df["condition"] = pd.Categorical(df["condition"], order, ordered=True)
    table, _ = comparison(df, "row", "err", order, "b")
    # Three seeds: CI = t(0.975, 2)·sd/√3 = 2.48 for sd 1, 4.97 for sd 2. The family of
    # changes with a test: x.s (t = −38.1, p 0.0007), x.t (−19.1, 0.0027), z.s (20.8, 0.0023),
    # w.t (−34.6, 0.0008); w.s and w.u have no spread, y two seeds. Holm: ×4, ×3, ×2, ×1 →
    # all at most 0.005: each starred as different from b.
    assert table.loc["x"].tolist() == ["31.00 ± 2.48", "9.00 ± 2.48 (−22.00 ± 2.48)*", "",
                                       "20.00 ± 4.97 (−11.00 ± 2.48)*"]
    assert table.loc["z", "s"] == "21.00 ± 2.48 (+12.00 ± 2.48)*"
    assert table.loc["w", "s"] == "9.00 ± 2.48 (−22.00 ± 0.00)"  # no spread: no test
    assert table.loc["y"].tolist()[:2] == ["30.00 / 31.00, n=2",
                                           "8.00 / 9.00 (−22.00 / −22.00), n=2"]
    best = table.attrs["best"]
    # x: s beats b (22 ± 2.48) and t (11 ± 4.30) → bold. z: b beats s (12 ± 2.48), t is
    # absent there → bold. v: alone, y: two seeds → none. w: s and u tie, but t − s =
    # 2 ± 2.48 → none.
    assert [c for c in order if best.loc["x", c]] == ["s"]
    assert [c for c in order if best.loc["z", c]] == ["b"]
    assert not best.loc["v"].any() and not best.loc["y"].any() and not best.loc["w"].any()
    # Means within 1e-9 are a tie: neither is bold, neither "resolved" over the other.
    tie = pd.DataFrame({"row": "r", "condition": ["p", "q"] * 3, "seed": [0, 0, 1, 1, 2, 2],
                        "err": [0.0, 1e-9] * 3, "other": 1})
    t2, _ = comparison(tie.assign(err=tie["err"]), "row", "err", ["p", "q"], None)
    assert t2.attrs["best"].loc["r"].tolist() == [False, False]
    # A zero spread is no resolution: three identical changes of −1 are not "bold".
    flat = pd.DataFrame({"row": "r", "condition": ["p", "q"] * 3, "seed": [0, 0, 1, 1, 2, 2],
                         "err": [5.0, 4.0, 6.0, 5.0, 7.0, 6.0]})
    t3, _ = comparison(flat, "row", "err", ["p", "q"], "p")
    assert t3.loc["r", "q"] == "5.00 ± 2.48 (−1.00 ± 0.00)" and not t3.attrs["best"].values.any()


def test_comparison_keeps_row_order_skips_unfinished_and_passes_the_ci_method():
    rows = [{"row": r, "condition": c, "seed": i, "finished": True, "err": float(e)}
            for r, cs in {"z": {"b": (8, 9), "s": (20, 22)}, "x": {"b": (30, 31),
                                                                  "s": (8, 9)}}.items()
            for c, es in cs.items() for i, e in enumerate(es)]
    rows.append({"row": "x", "condition": "s", "seed": 2, "finished": False, "err": 99.0})
    table, tidy = comparison(pd.DataFrame(rows), "row", "err", ["b", "y", "s"], "b",
                             ci="bootstrap")
    # Rows in the order they first appear; a listed condition with no runs is no column;
    # the unfinished run (99) counts nowhere; two seeds give their values, not a CI.
    assert (table.index.name, table.index.tolist(), table.columns.tolist()) == (
        "row", ["z", "x"], ["b", "s"])
    assert table.values.tolist() == [
        ["8.00 / 9.00, n=2", "20.00 / 22.00 (+12.00 / +13.00), n=2"],
        ["30.00 / 31.00, n=2", "8.00 / 9.00 (−22.00 / −22.00), n=2"]]
    assert tidy.columns.tolist() == ["row", "condition", "metric", "mean", "std", "n", "ci95",
                                     "delta", "delta_std", "delta_n", "delta_ci95", "p",
                                     "p_perm", "boot_lo", "boot_hi", "p_adj", "p_perm_adj",
                                     "different", "is_baseline"]
    assert tidy[["row", "condition"]].astype(str).values.tolist() == [
        ["z", "b"], ["z", "s"], ["x", "b"], ["x", "s"]]
    assert table.attrs["best"].dtypes.tolist() == [bool, bool]


def test_paired_statistics_keep_condition_order_and_skip_empty_categories():
    df = pd.DataFrame({"arch": "a", "condition": ["b"] * 2 + ["t"] * 2 + ["s"] * 2,
                       "seed": [0, 1] * 3, "err": [10.0, 12.0, 9.0, 10.0, 8.0, 9.0],
                       "finished": True})
    assert paired_deltas(df, "arch", "err", "b")["condition"].tolist() == ["t", "s"]
    df["condition"] = pd.Categorical(df["condition"], ["b", "t", "s", "never"], ordered=True)
    assert paired_deltas(df, "arch", "err", "b")["condition"].astype(str).tolist() == ["t", "s"]
    assert cell_stats(df, ["arch", "condition"], "err")["n"].tolist() == [2, 2, 2]
    table, _ = comparison(df, "arch", "err", ["b", "t", "s", "never"], "b")
    assert table.columns.tolist() == ["b", "t", "s"]  # no column for a condition without runs


def test_paired_p_values_at_the_edges():
    def p_of(deltas):
        df = pd.DataFrame({"arch": "a", "condition": ["b"] * len(deltas) + ["s"] * len(deltas),
                           "seed": list(range(len(deltas))) * 2,
                           "err": [10.0] * len(deltas) + [10.0 + d for d in deltas]})
        return paired_deltas(df, "arch", "err", "b").loc[0, "p"]

    from scipy.stats import ttest_1samp

    # Three seeds, changes 1, 2, 4: scipy's own one-sample t-test of the changes.
    assert p_of([1.0, 2.0, 4.0]) == pytest.approx(ttest_1samp([1.0, 2.0, 4.0], 0).pvalue)
    # no spread: no t-test can judge it (a change of exactly 1 three times is not "different")
    assert math.isnan(p_of([1.0] * 3)) and math.isnan(p_of([0.0] * 3))
    assert math.isnan(p_of([1.0, 2.0])) and math.isnan(p_of([1.0]))  # too few pairs


def test_bootstrap_half_width_pinned_and_its_edges():
    import numpy as np

    from spp_lab.report.stats import _boot_half

    # 9,999 percentile resamples with a fixed seed: the same half-width on every machine.
    assert _boot_half(np.array([1.0, 2.0, 4.0, 8.0, 16.0])) == pytest.approx(4.7)
    assert _boot_half(np.array([3.0, 3.0, 3.0])) == 0.0  # no spread: no interval
    assert math.isnan(_boot_half(np.array([3.0])))  # one value: no interval at all
    wide = np.random.default_rng(1).normal(size=40)  # too many values for ties to hide a seed
    assert _boot_half(wide) == _boot_half(wide.copy())  # the same CI on every call
    assert _boot_half(wide) == pytest.approx(0.2869512590073822, rel=1e-9)  # scipy 1.17


def test_student_t_quantiles_and_no_quantile_below_one_degree_of_freedom():
    from spp_lab.stopping import t975

    q = t975([0, 1, 2, 30])
    assert q.dtype == float and math.isnan(q[0])
    assert q[1:].tolist() == pytest.approx([12.706204736, 4.302652730, 2.042272456])


def test_under_a_seed_rule_the_changes_are_steins():
    """Seeds 0-3 are the pilot, 4-5 were added: a change's interval is t(0.975, 3) · pilot
    SD / √6 and its test Stein's t with 3 degrees of freedom, in the table, the tidy numbers
    and every caller; a change missing a pilot seed keeps Student t over its pairs."""
    from spp_lab.stopping import t975, t_cdf

    base = [50.0, 52.0, 49.0, 51.0, 50.0, 53.0]
    spp = [48.0, 51.5, 45.0, 50.0, 46.0, 52.5]  # deltas −2 −0.5 −4 −1 | −4 −0.5
    rows = [{"arch": a, "condition": c, "seed": s, "err": v + (a == "b"), "finished": True}
            for a in ("a", "b") for c, vals in (("no SPP", base), ("SPP", spp))
            for s, v in enumerate(vals) if not (a == "b" and c == "SPP" and s == 1)]
    df = pd.DataFrame(rows)
    d = paired_deltas(df, "arch", "err", "no SPP", pilot=4).set_index("arch")
    pilot = pd.Series([-2.0, -0.5, -4.0, -1.0])
    mean = (-2 - 0.5 - 4 - 1 - 4 - 0.5) / 6
    assert d.loc["a", "ci95"] == pytest.approx(t975(3) * pilot.std() / math.sqrt(6))
    assert d.loc["a", "p"] == pytest.approx(2 * t_cdf(-abs(mean) * math.sqrt(6)
                                                       / pilot.std(), 3))
    student = paired_deltas(df, "arch", "err", "no SPP").set_index("arch")
    assert d.loc["b", "ci95"] == student.loc["b", "ci95"]  # seed 1 missing: no pilot
    assert student.loc["a", "ci95"] != pytest.approx(d.loc["a", "ci95"])
    table, tidy = comparison(df, "arch", "err", ["no SPP", "SPP"], "no SPP", pilot=4)
    half = t975(3) * pilot.std() / math.sqrt(6)
    assert f"({mean:+.2f} ± {half:.2f})".replace("-", "−") in table.loc["a", "SPP"]
    got = tidy[(tidy["arch"] == "a") & (tidy["condition"] == "SPP")]["delta_ci95"].item()
    assert got == pytest.approx(half)


def test_steps_leave_out_the_baseline_and_name_where_the_tests_disagree(tmp_path):
    """Conditions A, base, B, C with base the baseline: A→base and base→B are the table's
    changes already, so the one step is C − B; the t-test calls it different at 3 pairs
    (p ≈ 0.001), sign flips cannot (p ≥ 0.25), and the section says so."""
    from spp_lab.report.steps import step_frame, steps

    vals = {"A": [9.0, 9.5, 10.0], "base": [10.0, 12.0, 11.0], "B": [10.0, 11.0, 12.0],
            "C": [12.0, 13.1, 13.9]}
    df = pd.DataFrame([{"arch": "a", "condition": c, "seed": s, "err": v}
                       for c, vs in vals.items() for s, v in enumerate(vs)])
    frame = step_frame(df, "arch", "err", list(vals), "base")
    assert frame["step"].tolist() == ["C − B"] and frame["n"].tolist() == [3]
    assert bool(frame["different"].item()) and not bool(frame["perm_different"].item())
    md = "\n".join(steps(df, "arch", "err", list(vals), "base", tmp_path))
    assert "| a | C − B | +2.00 ± 0.25 | 3 | < 0.001 | 0.250 | higher (different) |" in md
    assert "- a, C − B: different by the t-test but not by sign flips (adjusted p < 0.001 " \
        "and 0.250; with 3 pairs sign flips cannot go below p = 0.25)" in md
