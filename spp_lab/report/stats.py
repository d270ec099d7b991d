"""Statistics across seeds, vectorised pandas (no torch, no scipy).

* :func:`cell_stats`: per cell mean, std (n-1), n and the 95% CI half-width
  ``t_{0.975, n-1} · std / √n``; NaN when n < 2 (reported as "n=1", never invented).
* :func:`paired_deltas`: each condition minus the baseline condition, paired by seed within
  a row (negative = lower error than the baseline, as the paper's brackets), then summarised.
* :func:`interaction`: a 2×2 design paired by seed: both main effects and the interaction
  ``(y11 - y10) - (y01 - y00)``; the gains are additive when its CI covers 0.
* :func:`seeds_for_ci`: the seeds per cell a CI of a given half-width needs at a spread.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# Student t 0.975 quantiles by degrees of freedom (a larger df uses the next smaller entry,
# which errs on the wide side).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
         16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074,
         23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045,
         30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}
_T_DFS = np.array(sorted(_T975))
_T_VALS = np.array([_T975[d] for d in _T_DFS])


def t975(df: np.ndarray | pd.Series | int) -> np.ndarray:
    """t quantile for each df (NaN for df < 1); 1.96 beyond df = 120."""
    d = np.asarray(df, dtype=float)
    idx = np.searchsorted(_T_DFS, d, side="right") - 1
    out = np.where(d > 120, 1.96, _T_VALS[np.clip(idx, 0, len(_T_VALS) - 1)])
    return np.where(d >= 1, out, np.nan)


def _summarise(grouped) -> pd.DataFrame:
    out = grouped.agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    out["ci95"] = t975(out["n"] - 1) * out["std"] / np.sqrt(out["n"])
    out.loc[out["n"] < 2, ["std", "ci95"]] = math.nan
    return out


def cell_stats(runs: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Mean, std, n, ci95 of ``metric`` per group of ``by`` (finished runs only)."""
    return _summarise(runs.groupby(by, sort=False, observed=True)[metric]).reset_index()


def paired_deltas(runs: pd.DataFrame, rows: str, metric: str, baseline: str) -> pd.DataFrame:
    """Per (row, condition): the seed-paired difference to ``baseline``, summarised."""
    wide = runs.pivot_table(index=[rows, "seed"], columns="condition", values=metric,
                            observed=True, sort=False)
    if baseline not in wide:
        return pd.DataFrame(columns=[rows, "condition", "mean", "std", "n", "ci95"])
    delta = wide.sub(wide[baseline], axis=0).drop(columns=baseline)
    long = delta.stack(future_stack=True).dropna().rename("delta").reset_index()
    return _summarise(long.groupby([rows, "condition"], sort=False, observed=True)["delta"]
                      ).reset_index()


def interaction(runs: pd.DataFrame, a: str, b: str, metric: str,
                rows: str | None = None) -> pd.DataFrame:
    """Main effects of ``a`` and ``b`` (level 1 minus level 0) and their interaction.

    ``a`` and ``b`` are columns with exactly two values each; levels are in sorted order
    unless the columns are ordered categoricals.
    """
    keys = [rows] if rows and rows not in (a, b) else []
    levels = {}
    for col in (a, b):
        vals = runs[col].cat.categories if hasattr(runs[col], "cat") else sorted(
            runs[col].dropna().unique(), key=str)
        if len(vals) != 2:
            raise ValueError(f"interaction needs exactly 2 levels of {col!r}, got {list(vals)}")
        levels[col] = list(vals)
    wide = runs.pivot_table(index=keys + ["seed"], columns=[a, b], values=metric,
                            observed=True)
    la, lb = levels[a], levels[b]
    y = {(i, j): wide[(la[i], lb[j])] for i in (0, 1) for j in (0, 1)}
    effects = pd.DataFrame({
        f"main {a} ({la[1]} − {la[0]})": ((y[1, 0] - y[0, 0]) + (y[1, 1] - y[0, 1])) / 2,
        f"main {b} ({lb[1]} − {lb[0]})": ((y[0, 1] - y[0, 0]) + (y[1, 1] - y[1, 0])) / 2,
        "interaction": (y[1, 1] - y[1, 0]) - (y[0, 1] - y[0, 0]),
    })
    long = effects.melt(ignore_index=False, var_name="effect", value_name="value").dropna()
    out = _summarise(long.reset_index().groupby(keys + ["effect"], sort=False)["value"])
    return out.reset_index()


def seeds_for_ci(std: np.ndarray | pd.Series, halfwidth: float = 1.0,
                 max_n: int = 10_000) -> np.ndarray:
    """Smallest n ≥ 2 with ``t975(n-1) · std / √n ≤ halfwidth``: the seeds per cell a 95% CI
    of that half-width needs at this spread (NaN where std is NaN, inf beyond ``max_n``)."""
    s = np.asarray(std, dtype=float).reshape(-1, 1)
    n = np.arange(2, max_n + 1).reshape(1, -1)
    ok = t975(n - 1) * s / np.sqrt(n) <= halfwidth
    first = np.where(ok.any(axis=1), n[0, ok.argmax(axis=1)], np.inf)
    return np.where(np.isnan(s[:, 0]), np.nan, first)


def additive_sentence(effects: pd.DataFrame, metric: str) -> str:
    """One sentence: are the two switches' gains additive within the 95% CI?"""
    inter = effects[effects["effect"] == "interaction"]
    if inter.empty or inter["ci95"].isna().all():
        return "Additivity cannot be judged: the interaction needs at least 2 seeds per cell."
    lo, hi = inter["mean"] - inter["ci95"], inter["mean"] + inter["ci95"]
    covers = ((lo <= 0) & (hi >= 0)).all()
    worst = inter.loc[inter["mean"].abs().idxmax()]
    tail = (f"the interaction is {worst['mean']:+.2f} ± {worst['ci95']:.2f} points of {metric}"
            f" (95% CI, n={int(worst['n'])})")
    if covers:
        return f"The gains are additive within the uncertainty: {tail}, which covers 0."
    return f"The gains are not additive: {tail}, which excludes 0."
