"""The report's steps: each condition against the one before it, paired by seed (no torch).

The paper reads Table 2 this way: does multi-size training add a gain on top of SPP? The
steps are a family of their own: their p-values are Holm-adjusted over every step of the
table (``report.correction``), and a step is *different* (lower or higher) where the
adjusted p is at most 0.05. A step from or to the baseline is the comparison table's change
already (to it: negated), so it is left out rather than counted twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spp_lab.metrics import title
from spp_lab.report.inference import ALPHA, fmt_p, holm
from spp_lab.report.precision import disagreements
from spp_lab.report.stats import MIN_SEEDS, paired_deltas
from spp_lab.report.tables import markdown_table


def step_frame(done: pd.DataFrame, rows: str, metric: str, conditions: list[str],
               baseline: str, ci: str = "t", correction: str = "holm",
               pilot: int | None = None) -> pd.DataFrame:
    """One row per (row value, step): the paired change and its p-values, adjusted over
    the family of steps."""
    present = [c for c in conditions if (done["condition"] == c).any()]
    parts = []
    for prev, cond in [(a, b) for a, b in zip(present, present[1:]) if baseline not in (a, b)]:
        d = paired_deltas(done[done["condition"].isin([prev, cond])], rows, metric, prev, ci,
                          pilot)
        parts += [{**r.to_dict(), "step": f"{cond} − {prev}"} for _, r in d.iterrows()]
    frame = pd.DataFrame(parts)
    if frame.empty:
        return frame
    for raw, adj in (("p", "p_adj"), ("p_perm", "p_perm_adj")):
        p = frame[raw].to_numpy(float)
        frame[adj] = holm(p) if correction == "holm" else p
    frame["different"] = frame["p_adj"] <= ALPHA
    frame["perm_different"] = frame["p_perm_adj"] <= ALPHA
    if isinstance(done[rows].dtype, pd.CategoricalDtype):  # the file's row order, then steps
        rank = {v: i for i, v in enumerate(done[rows].cat.categories)}
        frame = frame.iloc[np.argsort(frame[rows].map(lambda v: rank.get(v, len(rank))),
                                      kind="stable")]
    return frame.reset_index(drop=True)


def verdict(r: pd.Series) -> str:
    """A step's (or a change's) verdict in the words the whole report uses."""
    if r["n"] < MIN_SEEDS or pd.isna(r["ci95"]):
        return f"n={int(r['n'])}: too few seeds for a test"
    if not r["ci95"] > 0:
        return "no spread: no test"
    if r["p_adj"] <= ALPHA:
        return "lower (different)" if r["mean"] < 0 else "higher (different)"
    return "no difference shown"


def steps(done: pd.DataFrame, rows: str, metric: str, conditions: list[str],
          baseline: str, out: Path, ci: str = "t", correction: str = "holm",
          pilot: int | None = None, frame: pd.DataFrame | None = None) -> list[str]:
    """The steps' table in the report, and ``steps.csv`` (``frame``: :func:`step_frame`,
    if computed)."""
    if frame is None:
        frame = step_frame(done, rows, metric, conditions, baseline, ci, correction, pilot)
    if frame.empty:
        return []
    frame.round(4).to_csv(out / "steps.csv", index=False)
    body = [[r[rows], r["step"], f"{r['mean']:+.2f}" + (
        "" if r["n"] < MIN_SEEDS or pd.isna(r["ci95"]) else f" ± {r['ci95']:.2f}"),
        int(r["n"]), fmt_p(r["p_adj"]), fmt_p(r["p_perm"]), verdict(r)]
        for _, r in frame.iterrows()]
    family = (f"Holm-adjusted over the {len(frame)} step{'s' if len(frame) != 1 else ''}"
              if correction == "holm" else "not adjusted")
    return ["## Step by step: each condition against the one before it", "",
            f"The change of {title(metric)} from each condition to the next, paired by seed "
            f"(negative: lower): different where the paired t-test's p, {family}, is at "
            "most 0.05; the sign-flip permutation p beside it assumes no normality.", "",
            markdown_table([rows, "step", "change ± 95% CI", "pairs", "p (t, adjusted)",
                            "p (sign flips)", "verdict"], body), "",
            *disagreements(frame, rows, what="step", pairs="n")]
