"""Comparison tables like the paper's Table 2: rows × conditions, cells ``mean (Δ)``.

A cell reads ``34.98 ± 0.41 (−1.01 ± 0.30)*``: the mean over seeds with its 95% CI, then the
seed-paired change against the baseline condition with its CI (negative = lower error).
Below 3 seeds a cell lists its values instead, ``34.61 / 35.35 (−0.80 / −1.22), n=2``: no
CI. A star marks a change *different* from the baseline: its paired t-test's p-value,
Holm-adjusted over the table's family of changes against the baseline (``report.
correction: holm``; ``none``: as it is), is at most 0.05; ``tidy`` holds ``p``, ``p_adj``,
the sign-flip ``p_perm`` and ``p_perm_adj``. Bold marks a row's lowest cell (an error, a
loss) where it is different from every other cell of the row (paired t-tests against each,
Holm-adjusted over the row's comparisons); a tie for the lowest, a zero spread or fewer
than 3 seeds in a cell: bold nowhere.
Writers: Markdown (and a plain :func:`markdown_table` helper), LaTeX (booktabs), HTML (a
page with charset and style), and a tidy numeric CSV.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from spp_lab.report.inference import ALPHA, holm
from spp_lab.report.stats import MIN_SEEDS, cell_stats, paired_deltas, paired_differences


def _num(x: float, signed: bool = False) -> str:
    text = f"{x:+.2f}" if signed else f"{x:.2f}"
    return text.replace("-", "−")


def _cell(mean: float, ci: float, n: int, delta: pd.Series | None,
          values: list[float] | None = None, deltas: list[float] | None = None,
          different: bool = False) -> str:
    """``mean ± ci (Δ ± ci)``, starred where the change is different from the baseline;
    below MIN_SEEDS, the values themselves and n."""
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
        text += f" ({d})" + ("*" if different else "")
    return text + (f", n={n}" if few else "")


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A plain Markdown table; floats with 3 decimals."""
    def fmt(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _best(done: pd.DataFrame, rows: str, metric: str, part: pd.DataFrame,
          correction: str, pilot: int | None = None) -> set:
    """The condition of one row to mark: the lowest mean, where it is one condition and
    different from every other one of the row (each paired t-test's p, Holm-adjusted over
    the row's comparisons, at most 0.05); none where two or more tie for the lowest, or a
    cell has too few seeds."""
    low = part["mean"].min()
    best = set(part.loc[(part["mean"] - low).abs() <= 1e-9, "condition"])
    if (part["n"] < MIN_SEEDS).any() or len(part) < 2 or len(best) > 1:
        return set()  # too few seeds, or a tie: no cell is the row's best
    mine = done[done[rows] == part[rows].iloc[0]]
    (ref,) = best
    found = paired_deltas(mine, rows, metric, ref, pilot=pilot, tests=False)
    others = part[part["condition"] != ref]["condition"].astype(str).tolist()
    if sorted(found["condition"].astype(str)) != sorted(others):
        return set()  # a condition without a full pairing
    p = holm(found["p"]) if correction == "holm" else found["p"].to_numpy(float)
    return best if ((found["mean"] > 0).all() and (p <= ALPHA).all()) else set()


def _family(tidy: pd.DataFrame, correction: str) -> pd.DataFrame:
    """The changes against the baseline as one family: their p-values adjusted
    (``p_adj``, ``p_perm_adj``) and which are different (``different``)."""
    for raw, adj in (("p", "p_adj"), ("p_perm", "p_perm_adj")):
        p = tidy[raw].to_numpy(float) if raw in tidy else np.full(len(tidy), np.nan)
        tidy[adj] = holm(p) if correction == "holm" else p
    tidy["different"] = tidy["p_adj"] <= ALPHA
    return tidy


def comparison(runs: pd.DataFrame, rows: str, metric: str, conditions: list[str],
               baseline: str | None, ci: str = "t", correction: str = "holm",
               pilot: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table of strings with a 'best' mask, tidy numbers) for finished runs; ``pilot``:
    a seed rule's pilot seeds (the changes' intervals and tests are then Stein's)."""
    done = runs[runs["finished"]] if "finished" in runs else runs
    tidy = cell_stats(done, [rows, "condition"], metric, ci)
    if baseline is not None:
        deltas = paired_deltas(done, rows, metric, baseline, ci, pilot).rename(columns={
            "mean": "delta", "std": "delta_std", "n": "delta_n", "ci95": "delta_ci95"})
        tidy = _family(tidy.merge(deltas, on=[rows, "condition"], how="left"), correction)
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
        marked = _best(done, rows, metric, part, correction, pilot)
        for _, r in part.iterrows():
            d = None
            if baseline is not None and r["condition"] != baseline and not pd.isna(
                    r.get("delta")):
                d = pd.Series({"mean": r["delta"], "ci95": r["delta_ci95"],
                               "n": r["delta_n"]})
            key = (row_value, r["condition"])
            cells[key] = _cell(r["mean"], r["ci95"], int(r["n"]), d, values.get(key),
                               diffs.get(key), bool(r.get("different", False)))
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
