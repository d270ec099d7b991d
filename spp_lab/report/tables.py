"""Comparison tables like the paper's Table 2: rows × conditions, cells ``mean (Δ)``.

A cell reads ``34.98 ± 0.41 (−1.01 ± 0.30)``: the mean over seeds with its 95% CI, then the
seed-paired change against the baseline condition with its CI (negative = lower error).
With one seed it reads ``34.98 (−1.01), n=1``. The lowest mean of each row is marked.
Writers: Markdown, LaTeX (booktabs), HTML, and a tidy numeric CSV.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from spp_lab.report.stats import cell_stats, paired_deltas


def _num(x: float, signed: bool = False) -> str:
    text = f"{x:+.2f}" if signed else f"{x:.2f}"
    return text.replace("-", "−")


def _cell(mean: float, ci: float, n: int, delta: pd.Series | None) -> str:
    text = _num(mean) + (f" ± {ci:.2f}" if n >= 2 and not math.isnan(ci) else "")
    if delta is not None:
        d = _num(delta["mean"], signed=True)
        d += f" ± {delta['ci95']:.2f}" if delta["n"] >= 2 else ""
        text += f" ({d})"
    return text + (", n=1" if n < 2 else "")


def comparison(runs: pd.DataFrame, rows: str, metric: str, conditions: list[str],
               baseline: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table of strings with a 'best' mask, tidy numbers) for finished runs."""
    done = runs[runs["finished"]] if "finished" in runs else runs
    stats = cell_stats(done, [rows, "condition"], metric)
    tidy = stats.rename(columns={"mean": "mean", "std": "std"})
    if baseline is not None:
        deltas = paired_deltas(done, rows, metric, baseline).rename(columns={
            "mean": "delta", "std": "delta_std", "n": "delta_n", "ci95": "delta_ci95"})
        tidy = tidy.merge(deltas, on=[rows, "condition"], how="left")
    tidy["condition"] = pd.Categorical(tidy["condition"].astype(str), conditions, ordered=True)
    if not isinstance(done[rows].dtype, pd.CategoricalDtype):
        order = list(dict.fromkeys(done[rows]))  # rows in the order they first appear
        tidy[rows] = pd.Categorical(tidy[rows], order, ordered=True)
    tidy = tidy.sort_values([rows, "condition"], kind="stable").reset_index(drop=True)
    tidy.insert(2, "metric", metric)
    cells, best = {}, {}
    for row_value, part in tidy.groupby(rows, sort=False, observed=True):
        best_cond = part.loc[part["mean"].idxmin(), "condition"]
        for _, r in part.iterrows():
            d = None
            if baseline is not None and r["condition"] != baseline and not pd.isna(
                    r.get("delta")):
                d = pd.Series({"mean": r["delta"], "ci95": r["delta_ci95"],
                               "n": r["delta_n"]})
            cells[(row_value, r["condition"])] = _cell(r["mean"], r["ci95"], int(r["n"]), d)
            best[(row_value, r["condition"])] = r["condition"] == best_cond
    row_values = list(dict.fromkeys(tidy[rows]))
    cols = [c for c in conditions if (tidy["condition"] == c).any()]
    table = pd.DataFrame([[cells.get((rv, c), "") for c in cols] for rv in row_values],
                         index=pd.Index(row_values, name=rows), columns=cols)
    mask = pd.DataFrame([[best.get((rv, c), False) for c in cols] for rv in row_values],
                        index=table.index, columns=cols)
    table.attrs["best"] = mask
    return table, tidy


def to_markdown(table: pd.DataFrame, title: str = "") -> str:
    best = table.attrs.get("best")
    head = [table.index.name or ""] + list(table.columns)
    lines = ([f"**{title}**", ""] if title else []) + [
        "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rv, row in table.iterrows():
        cells = [f"**{v}**" if best is not None and best.loc[rv, c] else v
                 for c, v in row.items()]
        lines.append("| " + " | ".join([str(rv)] + cells) + " |")
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    return text.replace("±", r"$\pm$").replace("−", "$-$").replace("_", r"\_") \
        .replace("*", r"$^*$").replace("%", r"\%")


def to_latex(table: pd.DataFrame, caption: str = "") -> str:
    best = table.attrs.get("best")
    cols = "l" + "c" * len(table.columns)
    out = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
           " & ".join([_tex(table.index.name or "")] + [_tex(c) for c in table.columns])
           + r" \\", r"\midrule"]
    for rv, row in table.iterrows():
        cells = [rf"\textbf{{{_tex(v)}}}" if best is not None and best.loc[rv, c]
                 else _tex(v) for c, v in row.items()]
        out.append(" & ".join([_tex(str(rv))] + cells) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    out += [rf"\caption{{{_tex(caption)}}}"] if caption else []
    return "\n".join(out + [r"\end{table}"]) + "\n"


def to_html(table: pd.DataFrame, caption: str = "") -> str:
    best = table.attrs.get("best")
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [table.index.name or "",
                                                              *table.columns])
    rows = []
    for rv, row in table.iterrows():
        cells = "".join(
            f"<td><b>{html.escape(v)}</b></td>" if best is not None and best.loc[rv, c]
            else f"<td>{html.escape(v)}</td>" for c, v in row.items())
        rows.append(f"<tr><th>{html.escape(str(rv))}</th>{cells}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>\n")
