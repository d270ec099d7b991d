"""Comparison tables like the paper's Table 2: rows × conditions, cells ``mean (Δ)``.

A cell reads ``34.98 ± 0.41 (−1.01 ± 0.30)``: the mean over seeds with its 95% CI, then the
seed-paired change against the baseline condition with its CI (negative = lower error).
Below 3 seeds a cell lists its values instead, ``34.61 / 35.35 (−0.80 / −1.22), n=2``: no
CI. Bold marks a row's best cell (lowest for an error or a loss) only where it is told
apart: with 3 or more seeds in every cell, against each other cell of the row the
seed-paired difference's CI excludes 0 (and is not a zero spread); a tie for the lowest is
bold nowhere.
Writers: Markdown (and a plain :func:`markdown_table` helper), LaTeX (booktabs), HTML (a
page with charset and style), and a tidy numeric CSV.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from spp_lab.report.stats import MIN_SEEDS, cell_stats, paired_deltas, paired_differences
from spp_lab.stopping import t975


def _num(x: float, signed: bool = False) -> str:
    text = f"{x:+.2f}" if signed else f"{x:.2f}"
    return text.replace("-", "−")


def _cell(mean: float, ci: float, n: int, delta: pd.Series | None,
          values: list[float] | None = None, deltas: list[float] | None = None) -> str:
    """``mean ± ci (Δ ± ci)``; below MIN_SEEDS, the values themselves and n."""
    few = n < MIN_SEEDS or math.isnan(ci)
    text = (" / ".join(_num(v) for v in values) if few and values else _num(mean)) + (
        "" if few else f" ± {ci:.2f}")
    if delta is not None:
        if delta["n"] < MIN_SEEDS and deltas:
            d = " / ".join(_num(v, signed=True) for v in deltas)
        else:
            d = _num(delta["mean"], signed=True) + (
                "" if delta["n"] < MIN_SEEDS or math.isnan(delta["ci95"])
                else f" ± {delta['ci95']:.2f}")
        text += f" ({d})"
    return text + (f", n={n}" if few else "")


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A plain Markdown table; floats with 3 decimals."""
    def fmt(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _resolved_best(done: pd.DataFrame, rows: str, metric: str, part: pd.DataFrame
                   ) -> set:
    """The condition of one row to mark: the lowest mean, where it is one condition and
    separated from every other one (paired CI excludes 0); none where two or more tie for
    the lowest, or any cell has too few seeds."""
    low = part["mean"].min()
    best = set(part.loc[(part["mean"] - low).abs() <= 1e-9, "condition"])
    if (part["n"] < MIN_SEEDS).any() or len(part) < 2 or len(best) > 1:
        return set()  # too few seeds, or a tie: no cell is the row's best
    row_value = part[rows].iloc[0]
    mine = done[done[rows] == row_value]
    ref = sorted(best, key=str)[0]
    diffs = paired_differences(mine, rows, metric, ref)
    for cond, d in diffs.groupby("condition", observed=True)["delta"]:
        if cond in best:
            continue
        n = len(d)
        if n < MIN_SEEDS:
            return set()
        half = float(t975(n - 1)) * d.std(ddof=1) / math.sqrt(n)
        if not half > 0 or not d.mean() - half > 0:  # the other condition is not resolved as worse
            return set()
    return best


def comparison(runs: pd.DataFrame, rows: str, metric: str, conditions: list[str],
               baseline: str | None, ci: str = "t") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table of strings with a 'best' mask, tidy numbers) for finished runs."""
    done = runs[runs["finished"]] if "finished" in runs else runs
    tidy = cell_stats(done, [rows, "condition"], metric, ci)
    if baseline is not None:
        deltas = paired_deltas(done, rows, metric, baseline, ci).rename(columns={
            "mean": "delta", "std": "delta_std", "n": "delta_n", "ci95": "delta_ci95"})
        tidy = tidy.merge(deltas, on=[rows, "condition"], how="left")
    tidy["is_baseline"] = tidy["condition"] == baseline
    tidy["condition"] = pd.Categorical(tidy["condition"].astype(str), conditions, ordered=True)
    if not isinstance(done[rows].dtype, pd.CategoricalDtype):
        order = list(dict.fromkeys(done[rows]))  # rows in the order they first appear
        tidy[rows] = pd.Categorical(tidy[rows], order, ordered=True)
    tidy = tidy.sort_values([rows, "condition"], kind="stable").reset_index(drop=True)
    tidy.insert(2, "metric", metric)
    cells, best = {}, {}
    values = done.groupby([rows, "condition"], observed=True)[metric].agg(list)
    diffs = (paired_differences(done, rows, metric, baseline).groupby(
        [rows, "condition"], observed=True)["delta"].agg(list) if baseline is not None
        else pd.Series(dtype=object))
    for row_value, part in tidy.groupby(rows, sort=False, observed=True):
        marked = _resolved_best(done, rows, metric, part)
        for _, r in part.iterrows():
            d = None
            if baseline is not None and r["condition"] != baseline and not pd.isna(
                    r.get("delta")):
                d = pd.Series({"mean": r["delta"], "ci95": r["delta_ci95"],
                               "n": r["delta_n"]})
            key = (row_value, r["condition"])
            cells[key] = _cell(r["mean"], r["ci95"], int(r["n"]), d, values.get(key),
                               diffs.get(key))
            best[(row_value, r["condition"])] = r["condition"] in marked
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
    rows = [[str(rv)] + [f"**{v}**" if best is not None and best.loc[rv, c] else v
                         for c, v in row.items()] for rv, row in table.iterrows()]
    prefix = f"**{title}**\n\n" if title else ""
    return prefix + markdown_table([table.index.name or ""] + list(table.columns), rows) + "\n"


def _tex(text: str) -> str:
    return (text.replace("±", r"$\pm$").replace("−", "$-$").replace("_", r"\_")
            .replace("*", r"$^*$").replace("%", r"\%"))


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


_STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em}"
          "table{border-collapse:collapse}caption{caption-side:bottom;padding-top:.5em;"
          "color:#444;max-width:60em;text-align:left}th,td{padding:.3em .8em;"
          "border-bottom:1px solid #ccc;text-align:right}th:first-child{text-align:left}"
          "thead th{border-bottom:2px solid #333}")


def to_html(table: pd.DataFrame, caption: str = "") -> str:
    """A small self-contained page (UTF-8, inline style) holding the table."""
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
    title = html.escape(caption.split(":")[0]) if caption else "spp-lab table"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{title}</title><style>{_STYLE}</style></head><body>\n<table>{cap}"
            f"<thead><tr>{head}</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>\n</body></html>\n")
