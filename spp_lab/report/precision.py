"""What the seeds decided, per change: its 95% CI, the seeds used, resolved or not (with
the seeds the target would need), the stopping rule; a robust summary beside the mean, and
the runs far from their cell (flagged, never dropped). No torch.

A change is *resolved* when its CI's half-width is at most the target: the experiment's
``seeds.target`` under a seed rule, else ``report.target`` (1 point by default). Under a
seed rule the CI is Stein's (:mod:`spp_lab.stopping`): ``t_{0.975, n0−1} · s0 / √N``, with
``s0`` from the pilot seeds; with fixed seeds it is Student t over the paired seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spp_lab.report.inference import ALPHA, fmt_p, holm, smallest_sign_flip_p
from spp_lab.report.outliers import far_flags
from spp_lab.report.stats import MIN_SEEDS, paired_deltas, paired_differences
from spp_lab.report.tables import markdown_table
from spp_lab.stopping import SeedRule, halfwidth, seeds_for_width, seeds_needed, t975


def changes(done: pd.DataFrame, rows: str, metric: str, baseline: str,
            rule: SeedRule | None, target: float, conditions: list[str] | None = None,
            correction: str = "holm") -> pd.DataFrame:
    """One row per (row, condition): mean, median and IQM of the paired change, seeds
    used, CI half-width, resolved, the seeds the target needs, its SD, and the tests of
    the family: ``p_adj`` (paired t, Holm-adjusted), ``p_perm`` (sign flips) and
    ``p_perm_adj``, ``different`` and ``perm_different``."""
    long = paired_differences(done, rows, metric, baseline)
    out = []
    for (row, cond), part in long.groupby([rows, "condition"], sort=False, observed=True):
        d = part.sort_values("seed")["delta"].to_numpy(float)
        n = len(d)
        if rule is not None:
            pilot = part[part["seed"] < rule.min]["delta"].to_numpy(float)
            n0, sd = len(pilot), float(np.std(pilot, ddof=1)) if len(pilot) >= 2 else np.nan
            ok = n0 == rule.min and np.isfinite(sd)
            half = halfwidth(sd, n0, n) if ok else np.nan
            need = seeds_needed(sd, n0, target) if ok else np.nan
        else:
            sd = float(np.std(d, ddof=1)) if n >= 2 else np.nan
            half = float(t975(n - 1) * sd / np.sqrt(n)) if n >= MIN_SEEDS else np.nan
            need = float(seeds_for_width([sd], target)[0]) if n >= 2 else np.nan
        k = n // 4  # the interquartile mean: a quarter trimmed from each end
        iqm = float(np.sort(d)[k:n - k].mean())
        out.append({rows: row, "condition": cond, "mean": float(d.mean()),
                    "median": float(np.median(d)), "iqm": iqm, "seeds": n, "sd": sd,
                    "ci95": half, "resolved": bool(0 < half <= target) if n >= MIN_SEEDS
                    and np.isfinite(half) else False, "need": need})
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    tests = paired_deltas(done, rows, metric, baseline, pilot=rule.min if rule else None)[
        [rows, "condition", "p", "p_perm"]]
    frame = frame.merge(tests, on=[rows, "condition"], how="left")
    for raw, adj in (("p", "p_adj"), ("p_perm", "p_perm_adj")):
        p = frame[raw].to_numpy(float)
        frame[adj] = holm(p) if correction == "holm" else p
    frame["different"] = frame["p_adj"] <= ALPHA
    frame["perm_different"] = frame["p_perm_adj"] <= ALPHA
    order = list(done[rows].cat.categories) if isinstance(done[rows].dtype,
                                                          pd.CategoricalDtype) else []
    rank = {v: i for i, v in enumerate(order)}
    crank = {c: i for i, c in enumerate(conditions or [])}
    key = frame[rows].map(lambda v: rank.get(v, len(rank))) * 1000 + frame["condition"].map(
        lambda c: crank.get(c, len(crank)))
    return frame.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def _verdict(r: pd.Series, target: float) -> str:
    if r["seeds"] < MIN_SEEDS or not np.isfinite(r["ci95"]):
        return f"n={int(r['seeds'])}: too few seeds for a CI"
    if not r["ci95"] > 0:
        return "no spread: not resolved"
    if r["resolved"]:
        return f"resolved (±{r['ci95']:.2f} ≤ ±{target:g})"
    need = ("more than 10,000" if not np.isfinite(r["need"]) else f"≈ {int(r['need'])}")
    return (f"unresolved at ±{r['ci95']:.2f} after {int(r['seeds'])} seeds; ±{target:g} "
            f"would need {need} seeds at SD {r['sd']:.2f}")


def far_runs(done: pd.DataFrame, rows: str, metric: str) -> pd.DataFrame:
    """Runs far from their cell (:mod:`.outliers`: a leave-one-out prediction interval;
    pure noise flags at most 1% of cells), with the cell's median."""
    keys = [rows, "condition"]
    valid = done[done[metric].notna()]
    far = pd.Series(False, index=valid.index)
    for _, cell in valid.groupby(keys, observed=True)[metric]:
        far[cell.index] = far_flags(cell.to_numpy(float))[0]
    out = valid.loc[far, ["run_id", *keys, "seed", metric]].copy()
    out["cell_median"] = valid.groupby(keys, observed=True)[metric].transform("median")[far]
    return out


def disagreements(ch: pd.DataFrame, rows: str, what: str = "condition",
                  pairs: str = "seeds") -> list[str]:
    """Where the t verdict and the sign-flip verdict differ, and what each assumes
    (``what``: the column naming the change, ``pairs``: its number of pairs)."""
    out = []
    for _, r in ch[ch["different"] != ch["perm_different"]].iterrows():
        floor = smallest_sign_flip_p(int(r[pairs]))
        by = ("the t-test but not by sign flips" if r["different"] else
              "sign flips but not by the t-test")
        out.append(f"- {r[rows]}, {r[what]}: different by {by} (adjusted p {fmt_p(r['p_adj'])}"
                   f" and {fmt_p(r['p_perm_adj'])}; with {int(r[pairs])} pairs sign flips "
                   f"cannot go below p = {floor:.3g})")
    if not out:
        return []
    return ["The two tests disagree here. The t-test assumes the paired differences are "
            "normal; the sign-flip test assumes only that, with no change, each pair's sign "
            "could be either way, but it needs enough pairs to reach p ≤ 0.05 at all (6 or "
            "more):", "", *out, ""]


def section(done: pd.DataFrame, rows: str, metric: str, conditions: list[str],
            baseline: str, rule: SeedRule | None, seeds: list[int], target: float,
            correction: str = "holm", ch: pd.DataFrame | None = None) -> list[str]:
    """The report's "Seeds and precision" section (``ch``: :func:`changes`, if computed)."""
    target = rule.target if rule is not None else target
    if ch is None:
        ch = changes(done, rows, metric, baseline, rule, target, conditions, correction)
    if ch.empty:
        return []
    how = (f"Stopping rule: {rule.text()}: each cell ran {rule.min} pilot seeds and then the "
           "seeds its pilot spread needs; the CI is the procedure's, t(0.975, pilot − 1) · "
           "pilot SD / √seeds, exact under normal noise (README, Statistics)."
           if rule is not None else
           f"Seeds: fixed ({', '.join(map(str, seeds))}), no stopping rule; the CI is Student "
           f"t over the paired seeds. A change is resolved when its CI is within "
           f"±{target:g} (report.target); the seeds it would need are estimated from the "
           "spread measured here, so an order of magnitude, not a promise.")
    body = [[r[rows], f"{r['condition']} − {baseline}", f"{r['mean']:+.2f}"
             + (f" ± {r['ci95']:.2f}" if np.isfinite(r["ci95"]) else ""),
             f"{r['median']:+.2f}", f"{r['iqm']:+.2f}", int(r["seeds"]),
             fmt_p(r["p_adj"]), fmt_p(r["p_perm"]), _verdict(r, target)]
            for _, r in ch.iterrows()]
    md = ["## Seeds and precision", "", how, "",
          markdown_table([rows, "change", "mean ± 95% CI", "median", "IQM", "seeds",
                          "p (t, adjusted)", "p (sign flips)", "precision"], body), ""]
    md += disagreements(ch, rows)
    far = far_runs(done, rows, metric)
    if not far.empty:
        md += ["Runs far from their cell (outside the 99% prediction interval of the cell's "
               "other runs, shared out over its runs: pure normal noise flags at most 1% of "
               "cells). They are kept in every table, so the mean and CI above include them; "
               "the median and IQM are what one stuck seed moves least:", "",
               markdown_table(["run", rows, "condition", "seed", metric, "cell median"],
                              [[r["run_id"], r[rows], r["condition"], int(r["seed"]),
                                f"{r[metric]:.2f}", f"{r['cell_median']:.2f}"]
                               for _, r in far.iterrows()]), ""]
    return md
