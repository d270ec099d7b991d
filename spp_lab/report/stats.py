"""Statistics across seeds, vectorised pandas with Student t (:mod:`spp_lab.stopping`'s;
no torch).

* :func:`cell_stats`: per cell mean, std (n-1), n and the 95% CI half-width
  ``t_{0.975, n-1} · std / √n``; NaN below :data:`MIN_SEEDS` seeds (the table then shows
  the values themselves: a CI from two seeds is too wide to trust, and a zero spread of
  two equal values is no evidence at all).
* :func:`paired_deltas`: each condition minus the baseline condition, paired by seed within
  a row (negative = lower error than the baseline, as the paper's brackets), summarised the
  same way, with the paired t-test's p-value.
* ``ci="bootstrap"`` (``report.ci``): the half-width of a percentile bootstrap of the mean
  instead (``scipy.stats.bootstrap``, 9,999 resamples, fixed seed), for cells far from
  normal; the half-width reported is half the interval's length.
* :func:`interaction`: a 2×2 design paired by seed: both main effects and the interaction
  ``(y11 - y10) - (y01 - y00)``; the gains are additive when its CI covers 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spp_lab.stopping import t975, t_cdf

CI_METHODS = ("t", "bootstrap")
MIN_SEEDS = 3  # a CI, a bold cell or a "resolved" needs at least this many (paired) seeds


def _boot_half(values: np.ndarray) -> float:
    if len(values) < 2 or np.ptp(values) == 0:
        return 0.0 if len(values) >= 2 else np.nan
    from scipy.stats import bootstrap

    res = bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=9999,
                        method="percentile", random_state=0)
    return float(res.confidence_interval.high - res.confidence_interval.low) / 2


def _summarise(grouped, ci: str = "t") -> pd.DataFrame:
    out = grouped.agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    if ci == "bootstrap":
        out["ci95"] = grouped.agg(lambda v: _boot_half(np.asarray(v, dtype=float)))
    else:
        out["ci95"] = t975(out["n"] - 1) * out["std"] / np.sqrt(out["n"])
    out.loc[out["n"] < 2, "std"] = np.nan
    out.loc[out["n"] < MIN_SEEDS, "ci95"] = np.nan
    return out


def cell_stats(runs: pd.DataFrame, by: list[str], metric: str, ci: str = "t") -> pd.DataFrame:
    """Mean, std, n, ci95 of ``metric`` per group of ``by`` (finished runs only)."""
    return _summarise(runs.groupby(by, sort=False, observed=True)[metric], ci).reset_index()


def paired_differences(runs: pd.DataFrame, rows: str, metric: str, baseline: str
                       ) -> pd.DataFrame:
    """Long form: one row per (row value, condition, seed) present in both the condition and
    the baseline, with ``delta`` = condition − baseline for that seed."""
    wide = runs.pivot_table(index=[rows, "seed"], columns="condition", values=metric,
                            observed=True, sort=False)
    if baseline not in wide:
        return pd.DataFrame(columns=[rows, "seed", "condition", "delta"])
    delta = wide.sub(wide[baseline], axis=0).drop(columns=baseline)
    return delta.stack(future_stack=True).dropna().rename("delta").reset_index()


def paired_t_p(mean: Any, std: Any, n: Any, df: Any = None) -> np.ndarray:
    """Two-sided p-values of the paired t-test (NaN below MIN_SEEDS pairs, and for a zero
    spread, which no test can judge); ``df`` default n − 1."""
    mean, std, n = (np.asarray(v, dtype=float) for v in (mean, std, n))
    df = n - 1 if df is None else np.asarray(df, dtype=float)
    se = std / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * t_cdf(-np.abs(mean / se), df)
    return np.where((n >= MIN_SEEDS) & (se > 0), p, np.nan)


def _stein(out: pd.DataFrame, long: pd.DataFrame, rows: str, pilot: int) -> pd.DataFrame:
    """Under a seed rule whose pilot is seeds ``0 … pilot−1``: each change's interval and
    p-value are Stein's, from the pilot's SD ``s0`` with ``pilot − 1`` degrees of freedom,
    ``t_{0.975, pilot−1} · s0 / √n``; exact whatever number of seeds the pilot chose. A
    change without its whole pilot keeps Student t."""
    sd0 = long[long["seed"] < pilot].groupby([rows, "condition"], sort=False,
                                             observed=True)["delta"].agg(["std", "count"])
    sd0 = sd0[sd0["count"] == pilot]["std"].rename("sd0").reset_index()
    out = out.merge(sd0, on=[rows, "condition"], how="left")
    ok = out["sd0"].notna() & (out["n"] >= MIN_SEEDS)
    half = t975(pilot - 1) * out["sd0"] / np.sqrt(out["n"])
    p = paired_t_p(out["mean"], out["sd0"], out["n"], pilot - 1)
    out.loc[ok, "ci95"], out.loc[ok, "p"] = half[ok], p[ok.to_numpy()]
    return out.drop(columns="sd0")


def paired_deltas(runs: pd.DataFrame, rows: str, metric: str, baseline: str,
                  ci: str = "t", pilot: int | None = None, tests: bool = True
                  ) -> pd.DataFrame:
    """Per (row, condition): the seed-paired difference to ``baseline``, summarised, with
    the two-sided p-values of the paired t-test (``p``) and of the sign-flip permutation
    test (``p_perm``), and a bootstrap 95% interval (``boot_lo``, ``boot_hi``, from 8
    pairs: :mod:`.inference`). ``pilot``: a seed rule's pilot seeds, whose SD gives
    Stein's interval and test instead of Student t's (:func:`_stein`); ``tests=False``: the
    t-test only (no sign flips or bootstrap: NaN), for callers that read ``p`` alone."""
    from spp_lab.report.inference import bootstrap_ci, sign_flip_p

    long = paired_differences(runs, rows, metric, baseline)
    cols = ["mean", "std", "n", "ci95", "p", "p_perm", "boot_lo", "boot_hi"]
    if long.empty:
        return pd.DataFrame(columns=[rows, "condition", *cols])
    grouped = long.groupby([rows, "condition"], sort=False, observed=True)["delta"]
    out = _summarise(grouped, ci).reset_index()
    out["p"] = paired_t_p(out["mean"], out["std"], out["n"])
    if pilot and ci == "t":
        out = _stein(out, long, rows, pilot)
    values = [np.asarray(v, float) for v in grouped.agg(list)] if tests else [[]] * len(out)
    out["p_perm"] = [sign_flip_p(v) if len(v) >= 2 else np.nan for v in values]
    boot = [bootstrap_ci(v) for v in values]
    out["boot_lo"], out["boot_hi"] = [b[0] for b in boot], [b[1] for b in boot]
    return out


def interaction(runs: pd.DataFrame, a: str, b: str, metric: str,
                rows: str | None = None, ci: str = "t") -> pd.DataFrame:
    """Main effects of ``a`` and ``b`` (level 1 minus level 0) and their interaction.

    ``a`` and ``b`` are columns with exactly two values each; levels are in sorted order
    unless the columns are ordered categoricals.
    """
    keys = [rows] if rows and rows not in (a, b) else []
    levels = {}
    for col in (a, b):
        vals = runs[col].cat.categories if hasattr(runs[col], "cat") else sorted(
            runs[col].dropna().unique())
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
    out = _summarise(long.reset_index().groupby(keys + ["effect"], sort=False)["value"], ci)
    return out.reset_index()


def additive_sentence(effects: pd.DataFrame, metric: str) -> str:
    """One sentence: are the two switches' gains additive within the 95% CI?"""
    inter = effects[effects["effect"] == "interaction"]
    if inter.empty or inter["ci95"].isna().all():
        return (f"Additivity cannot be judged: the interaction needs at least {MIN_SEEDS} "
                "seeds per cell.")
    lo, hi = inter["mean"] - inter["ci95"], inter["mean"] + inter["ci95"]
    covers = ((lo <= 0) & (hi >= 0)).all()
    worst = inter.loc[inter["mean"].abs().idxmax()]
    tail = (f"the interaction is {worst['mean']:+.2f} ± {worst['ci95']:.2f} points of {metric}"
            f" (95% CI, n={int(worst['n'])})")
    if covers:
        return f"The gains are additive within the uncertainty: {tail}, which covers 0."
    return f"The gains are not additive: {tail}, which excludes 0."
