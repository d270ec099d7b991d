"""``spp-lab report``: every table and chart of an experiment into ``results/<name>/report/``.

Deterministic: the same runs give byte-identical CSV and Markdown. Never imports torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spp_lab.report.collect import collect, save_runs
from spp_lab.report.paper import PAPER_CONDITIONS, mirrors_paper, paper_runs
from spp_lab.report.plots import UNIT, additive_gains, learning_curves, metric_by_axis, save
from spp_lab.report.stats import additive_sentence, cell_stats, interaction, seeds_for_ci
from spp_lab.report.tables import comparison, to_html, to_latex, to_markdown
from spp_lab.runfolder import STATES, Corrupt, ExperimentFolder


def _write_tables(table: pd.DataFrame, tidy: pd.DataFrame, out: Path, stem: str,
                  caption: str) -> str:
    (out / f"{stem}.md").write_text(to_markdown(table))
    (out / f"{stem}.tex").write_text(to_latex(table, caption))
    (out / f"{stem}.html").write_text(to_html(table, caption))
    tidy.round(4).to_csv(out / f"{stem}.csv", index=False)
    return to_markdown(table)


def paper_beside(tidy: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Measured change against no SPP beside the paper's, per architecture and condition."""
    _, ptidy = comparison(paper_runs(), "model.arch", metric, list(PAPER_CONDITIONS),
                          "no SPP")
    ours = tidy[tidy["condition"].astype(str) != "no SPP"].copy()
    ours["model.arch"] = ours["model.arch"].astype(str)
    ptidy["model.arch"] = ptidy["model.arch"].astype(str)
    merged = ours.merge(ptidy[["model.arch", "condition", "delta"]].rename(
        columns={"delta": "paper_delta"}), on=["model.arch", "condition"], how="left")
    return merged[["model.arch", "condition", "delta", "delta_ci95", "delta_n", "paper_delta"]]


def write_report(exp_dir: str | Path, paper: bool = False) -> Path:
    """Collect, aggregate and draw; returns the path of ``report.md``."""
    exp_dir = Path(exp_dir)
    out = exp_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("table_*.*"), *out.glob("by_*.*")):  # named by metric or axis
        stale.unlink()
    runs = collect(exp_dir)
    spec = ExperimentFolder(exp_dir).spec()
    rep = spec.report
    rows, metric = rep.rows, rep.metric
    md = [f"# {spec.name}", "", spec.description.strip(), ""]
    if runs.attrs.get("older_runs"):
        md += [f"{runs.attrs['older_runs']} run folders in `runs/` are not jobs of the "
               "experiment file as it is now (an earlier version's configs or seeds); they "
               "are kept on disk, out of these tables and `runs.csv`.", ""]
    if runs.empty:
        (out / "report.md").write_text("\n".join(md + ["No runs yet."]) + "\n")
        return out / "report.md"
    save_runs(runs, exp_dir)
    counts = runs["status"].value_counts().reindex(list(STATES), fill_value=0)
    md += [f"Runs: {len(runs)} ({', '.join(f'{v} {k}' for k, v in counts.items() if v)}). "
           "Only finished runs enter the tables; the others are listed in `runs.csv` with "
           "their status.", ""]
    done = _finished(runs, rows, spec.row_order)
    missing = metric not in done or done[metric].isna().all()
    if done.empty or missing:
        why = (f"No finished run yet ({len(runs)} runs: "
               f"{', '.join(f'{v} {k}' for k, v in counts.items() if v)}), so no tables."
               if done.empty else f"No finished run recorded {metric} (report.metric); "
               "a test metric needs a test split (data.num_test, a test/ folder or "
               "data.test_fraction).")
        (out / "report.md").write_text("\n".join(md + [why]) + "\n")
        return out / "report.md"
    conditions = list(runs["condition"].cat.categories)
    baseline = rep.baseline or conditions[0]
    tidy, table_md = _tables(done, rows, metric, conditions, baseline, out)
    md += table_md + _cost_table(done, rows, out)
    save(additive_gains(tidy, rows), out / "additive_gains")
    md += ["## Gains step by step", "", "![additive gains](additive_gains.png)", ""]
    if mirrors_paper(conditions, rows):
        md += _beside_paper(tidy, metric, out)
    if paper:
        md += [_paper_chart(out, metric), ""]
    if len(rep.interaction) == 2:
        a, b = rep.interaction
        eff = interaction(done, a, b, metric, rows=rows if rows in done else None)
        eff.round(4).to_csv(out / "interaction.csv", index=False)
        md += ["## Does it add up?", "", additive_sentence(eff, metric), "", _plain(eff), ""]
    md += _charts(exp_dir, done, spec.grid, rows, metric, out)
    (out / "report.md").write_text("\n".join(md).rstrip() + "\n")
    return out / "report.md"


def _finished(runs: pd.DataFrame, rows: str, order: list) -> pd.DataFrame:
    """Finished runs, with the rows key in the order the experiment file lists it."""
    done = runs[runs["finished"]]
    if rows not in done.columns:
        done = done.assign(**{rows: "all"})
    if order and set(done[rows].dropna()) <= set(order):
        done = done.assign(**{rows: pd.Categorical(done[rows], order, ordered=True)})
    return done


def _tables(done, rows, metric, conditions, baseline, out) -> tuple[pd.DataFrame, list[str]]:
    """The metric's table, and the top-5 table beside a top-1 one; returns the first's
    numbers and the Markdown."""
    top5 = metric.replace("top1", "top5")
    metrics = [metric] + ([top5] if top5 != metric and top5 in done
                          and done[top5].notna().any() else [])
    md, first = [], None
    for m in metrics:
        table, tidy = comparison(done, rows, m, conditions, baseline)
        first = tidy if first is None else first
        cap = (f"{UNIT.get(m, m)}: mean ± 95% CI over seeds (change against {baseline}, "
               "paired by seed); lowest in bold")
        md += [f"## {UNIT.get(m, m)}", "", cap + ".", "",
               _write_tables(table, tidy, out, f"table_{m}", cap), ""]
        if m == metric:
            md += _seeds_needed(tidy, rows)
    return first, md


def _seeds_needed(tidy: pd.DataFrame, rows: str) -> list[str]:
    """How many seeds per cell a ±1-point CI of each paired change needs at its spread."""
    if "delta_std" not in tidy or not tidy["metric"].iloc[0].endswith("_err"):
        return []
    d = tidy.dropna(subset=["delta_std"])
    if d.empty:
        return []
    need = seeds_for_ci(d["delta_std"], halfwidth=1.0)
    n = int(d["delta_n"].min())
    lines = ["Seeds per cell that a ±1-point 95% CI of each change would need at the spread "
             "measured here (standard deviation of the paired change across seeds; "
             f"estimated from {n}+ seeds, so an order of magnitude, not a promise):", "",
             f"| {rows} | condition | paired std | seeds for ±1 point |", "|---|---|---|---|"]
    for (_, r), k in zip(d.iterrows(), need):
        k_text = "more than 10,000" if np.isinf(k) else f"{int(k)}"
        lines.append(f"| {r[rows]} | {r['condition']} | {r['delta_std']:.2f} | {k_text} |")
    return lines + [""]


def _beside_paper(tidy: pd.DataFrame, metric: str, out: Path) -> list[str]:
    beside = paper_beside(tidy, metric)
    beside.round(4).to_csv(out / "paper_comparison.csv", index=False)
    md = ["## Beside the paper (ImageNet, Table 2)", "",
          "| arch | condition | measured change | paper's change |", "|---|---|---|---|"]
    for _, r in beside.iterrows():
        ci = f" ± {r['delta_ci95']:.2f}" if r["delta_n"] >= 2 else ""
        paper_d = "" if pd.isna(r["paper_delta"]) else f"{r['paper_delta']:+.2f}"
        md.append(f"| {r['model.arch']} | {r['condition']} | {r['delta']:+.2f}{ci} | "
                  f"{paper_d} |")
    return md + [""]


def _charts(exp_dir, done, grid, rows, metric, out) -> list[str]:
    """A chart per swept axis other than the rows, and the learning curves."""
    md = []
    for axis in grid:
        if axis != rows and axis in done and done[axis].nunique() > 1:
            st = cell_stats(done, [axis, "condition"], metric)
            stem = "by_" + axis.replace(".", "_")
            save(metric_by_axis(st, axis, metric), out / stem)
            md += [f"![{axis}]({stem}.png)", ""]
    hist = _histories(exp_dir, done)
    if not hist.empty:
        save(learning_curves(hist), out / "learning_curves")
        md += ["## Learning curves", "", "![learning curves](learning_curves.png)", ""]
    return md


def _paper_chart(out: Path, metric: str = "val_top1_err") -> str:
    table, ptidy = comparison(paper_runs(), "model.arch", metric, list(PAPER_CONDITIONS),
                              "no SPP")
    save(additive_gains(ptidy, "model.arch", "The paper's Table 2: SPP and multi-size "
                        "training (ImageNet val, 10 views)"), out / "paper_additive_gains")
    _write_tables(table, ptidy, out, f"paper_table_{metric}", "SPP-net Table 2 (ImageNet)")
    return "![the paper's additive gains](paper_additive_gains.png)"


def write_paper(out: Path) -> Path:
    """``spp-lab report --paper``: the paper's own Table 2 tables and additive-gain chart."""
    out.mkdir(parents=True, exist_ok=True)
    md = ["# SPP-net, Table 2 (He et al., TPAMI 2015)", "",
          "ImageNet 2012 val error, 10-view testing; one run per cell, so no CI. The source "
          "of each cell is in `spp_lab/report/paper_table2.csv`; the Overfeat-7 single-size "
          "top-5 is uncertain (11.12, or 10.99 in another transcription).", "",
          _paper_chart(out, "val_top1_err"), ""]
    for m in ("val_top1_err", "val_top5_err"):
        table, ptidy = comparison(paper_runs(), "model.arch", m, list(PAPER_CONDITIONS),
                                  "no SPP")
        md += [f"## {UNIT[m]}", "", _write_tables(table, ptidy, out, f"paper_table_{m}",
                                                  "SPP-net Table 2 (ImageNet)"), ""]
    (out / "report.md").write_text("\n".join(md).rstrip() + "\n")
    return out / "report.md"


def _cost_table(done: pd.DataFrame, rows: str, out: Path) -> list[str]:
    """Parameters and forward FLOPs per image for each (row, condition)."""
    cols = [c for c in ("params", "flops_per_image") if c in done and done[c].notna().any()]
    if not cols:
        return []
    cost = done.groupby([rows, "condition"], observed=True, sort=True)[cols].first()
    cost = cost.reset_index()
    cost.to_csv(out / "cost.csv", index=False)
    lines = ["## Cost", "", "| " + " | ".join([rows, "condition", "parameters",
                                                "forward MFLOPs / image"]) + " |",
             "|---|---|---|---|"]
    for _, r in cost.iterrows():
        flops = r.get("flops_per_image")
        mflops = "" if pd.isna(flops) else f"{flops / 1e6:.1f}"
        lines.append(f"| {r[rows]} | {r['condition']} | {int(r['params']):,} | {mflops} |")
    return lines + [""]


def _plain(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                       for v in r) + " |")
    return "\n".join(lines)


def _histories(exp_dir: Path, done: pd.DataFrame) -> pd.DataFrame:
    parts = []
    folder = ExperimentFolder(exp_dir)
    for rid, cond in zip(done["run_id"], done["condition"]):
        try:
            rows = folder.run(rid).history_rows()
        except Corrupt:
            continue
        if rows:
            parts.append(pd.DataFrame(rows).assign(condition=cond, run_id=rid))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
