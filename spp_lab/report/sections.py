"""The report's sections: each takes the finished runs (and the experiment's settings),
writes its files into ``report/`` and returns its Markdown lines (no torch)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from spp_lab.metrics import title, top5_of
from spp_lab.report.draw import Charts
from spp_lab.report.paper import PAPER_CONDITIONS, paper_beside, paper_runs
from spp_lab.report.plots import additive_gains, gains_data, learning_curves, metric_by_axis
from spp_lab.report.stats import MIN_SEEDS, cell_stats
from spp_lab.report.tables import comparison, markdown_table, to_html, to_latex, to_markdown


def write_tables(table: pd.DataFrame, tidy: pd.DataFrame, out: Path, stem: str,
                 caption: str) -> str:
    """One table in every format (md, tex, html, csv); returns the Markdown."""
    (out / f"{stem}.md").write_text(to_markdown(table))
    (out / f"{stem}.tex").write_text(to_latex(table, caption))
    (out / f"{stem}.html").write_text(to_html(table, caption))
    tidy.round(4).to_csv(out / f"{stem}.csv", index=False)
    return to_markdown(table)


def legend(baseline: str, changes: int, correction: str) -> str:
    """What a table's marks mean: the family its stars are judged in."""
    adjusted = (f"Holm-adjusted over the table's {changes} changes against {baseline}"
                if correction == "holm" else "not adjusted for the table's other changes")
    return (f"*: different from {baseline} (paired t-test p ≤ 0.05, {adjusted}); bold: a "
            "row's lowest, different from every other cell of its row (Holm-adjusted over "
            "the row)")


def tables(done, rows, metric, conditions, baseline, out, ci="t", correction="holm",
           pilot=None) -> tuple[pd.DataFrame, list[str]]:
    """The metric's table, and the top-5 table beside a top-1 one; returns the first's
    numbers and the Markdown."""
    top5 = top5_of(metric)
    metrics = [metric] + ([top5] if top5 and top5 in done and done[top5].notna().any() else [])
    md, first = [], None
    ci_name = "bootstrap 95% CI" if ci == "bootstrap" else "95% CI"
    for m in metrics:
        table, tidy = comparison(done, rows, m, conditions, baseline, ci, correction, pilot)
        first = tidy if first is None else first
        changes = int((tidy["delta"].notna() & ~tidy["is_baseline"]).sum()) if (
            "delta" in tidy) else 0
        cap = (f"{title(m)}: mean ± {ci_name} over seeds (change against {baseline}, "
               f"paired by seed). {legend(baseline, changes, correction)}")
        md += [f"## {title(m)}", "", cap + ".", "",
               write_tables(table, tidy, out, f"table_{m}", cap), ""]
    return first, md


def run_notes(done: pd.DataFrame, rows: str) -> list[str]:
    """The runs' own notes (:mod:`spp_lab.diagnose`): too few steps an epoch, no learning,
    a view the head cannot take; one line per note, with the runs it concerns."""
    if "notes" not in done or done["notes"].isna().all():
        return []
    found: dict[str, list[str]] = {}
    for _, r in done[done["notes"].notna()].iterrows():
        for note in str(r["notes"]).split(" | "):
            found.setdefault(note, []).append(f"{r['run_id']} ({r[rows]}, {r['condition']}, "
                                              f"seed {r['seed']})")
    md = ["## Notes on the runs", ""]
    for note, runs in found.items():
        md.append(f"- {note}: {', '.join(runs[:6])}"
                  + (f" and {len(runs) - 6} more" if len(runs) > 6 else ""))
    return md + [""]


VIEW = re.compile(r"^test_(full|\d+)_top1_err$")


def test_views(done: pd.DataFrame, rows: str, conditions: list[str], baseline: str,
               out: Path, ci: str = "t", pilot: int | None = None) -> list[str]:
    """A table per view of ``data.test_views`` (``test_full_top1_err``, ...), of the
    conditions whose head takes it; the others are named, with why."""
    md: list[str] = []
    for col in sorted(c for c in done.columns if VIEW.match(c)):
        view = VIEW.match(col).group(1)
        has = done.groupby("condition", observed=True)[col].apply(lambda v: v.notna().any())
        present = [c for c in conditions if has.get(c, False)]
        absent = [c for c in conditions if c in has.index and not has[c]]
        what = "full images" if view == "full" else f"{view}-px centre crops"
        md += [f"## Test view: {what} ({col})", ""]
        if not present:
            md += [f"No condition's head takes {what}: every run left {col} empty.", ""]
            continue
        base = baseline if baseline in present else present[0]
        table, tidy = comparison(done[done["condition"].isin(present)], rows, col,
                                 present, base, ci, pilot=pilot)
        cap = f"{title(col)}: mean ± 95% CI over seeds (change against {base})"
        md += [write_tables(table, tidy, out, f"table_{col}", cap), ""]
        if absent:
            md += [f"Not in this table: {', '.join(absent)}, whose head is fixed-size and "
                   f"cannot take {what} (their runs' notes say so)"
                   + (f"; changes are against {base} instead of {baseline}"
                      if base != baseline else "") + ".", ""]
    return md


def gains_chart(tidy: pd.DataFrame, rows: str, out: Path, charts: Charts) -> list[str]:
    """The gains chart, and the numbers it draws beside it (``additive_gains.csv``)."""
    gains_data(tidy, rows).round(4).to_csv(out / "additive_gains.csv", index=False)
    charts.draw(out / "additive_gains", additive_gains, tidy, rows)
    return ["## Gains against the baseline", "", "![additive gains](additive_gains.png)", ""]


def _change(r: pd.Series) -> str:
    """A measured change beside the paper's: ``-1.67 ± 1.43``, ``-2.00 (n=1)`` or ``–``."""
    if pd.isna(r["delta"]):
        return "–"
    if r["delta_n"] >= MIN_SEEDS and pd.notna(r["delta_ci95"]):
        return f"{r['delta']:+.2f} ± {r['delta_ci95']:.2f}"
    return f"{r['delta']:+.2f} (n={int(r['delta_n'])})"


def beside_paper(tidy: pd.DataFrame, metric: str, out: Path) -> list[str]:
    beside = paper_beside(tidy, metric)
    beside.round(4).to_csv(out / "paper_comparison.csv", index=False)
    body = [[r["model.arch"], r["condition"], _change(r),
             "" if pd.isna(r["paper_delta"]) else f"{r['paper_delta']:+.2f}"]
            for _, r in beside.iterrows()]
    return ["## Beside the paper (ImageNet, Table 2)", "",
            markdown_table(["arch", "condition", "measured change", "paper's change"], body),
            ""]


def cost(done: pd.DataFrame, rows: str, out: Path) -> list[str]:
    """Parameters and forward FLOPs per image for each (row, condition)."""
    cols = [c for c in ("params", "flops_per_image") if c in done and done[c].notna().any()]
    if not cols:
        return []
    table = done.groupby([rows, "condition"], observed=True, sort=True)[cols].first()
    table = table.reset_index()
    table.to_csv(out / "cost.csv", index=False)
    body = [[r[rows], r["condition"], f"{int(r['params']):,}",
             "" if pd.isna(r.get("flops_per_image")) else f"{r['flops_per_image'] / 1e6:.1f}"]
            for _, r in table.iterrows()]
    return ["## Cost", "", markdown_table([rows, "condition", "parameters",
                                          "forward MFLOPs / image"], body), ""]


def charts(done: pd.DataFrame, hist: pd.DataFrame, spec, metric: str, out: Path,
           test_size: int | None, drawer: Charts) -> list[str]:
    """A chart per swept axis other than the rows, and the learning curves."""
    md, rows = [], spec.report.rows
    for axis in spec.grid:
        if axis != rows and axis in done and done[axis].nunique() > 1:
            st = cell_stats(done, [axis, "condition"], metric)
            stem = "by_" + axis.replace(".", "_")
            drawer.draw(out / stem, metric_by_axis, st, axis, metric,
                        order=spec.axis_order.get(axis))
            md += [f"![{axis}]({stem}.png)", ""]
    if not hist.empty:
        drawer.draw(out / "learning_curves", learning_curves, hist, rows, test_size=test_size)
        md += ["## Learning curves (validation)", "",
               "![learning curves](learning_curves.png)", ""]
    return md


def paper_chart(out: Path, charts: Charts, metric: str = "val_top1_err") -> str:
    table, ptidy = comparison(paper_runs(), "model.arch", metric, list(PAPER_CONDITIONS),
                              PAPER_CONDITIONS[0])
    charts.draw(out / "paper_additive_gains", additive_gains, ptidy, "model.arch",
                "The paper's Table 2: SPP and multi-size training against no SPP (ImageNet "
                "val, 10 views)")
    write_tables(table, ptidy, out, f"paper_table_{metric}", "SPP-net Table 2 (ImageNet)")
    return "![the paper's additive gains](paper_additive_gains.png)"
