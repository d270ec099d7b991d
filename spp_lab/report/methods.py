"""The methods paragraph a paper needs, written from what the report computed (no torch):
the seeds and the pairing, the intervals, the test and its correction with the families,
the distribution-free check and where it disagrees, the effect sizes, the runs used and
the ones far from their cell. ``report.md`` opens its statistics with it; ``methods.tex``
holds the same paragraph for LaTeX."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from spp_lab.metrics import title
from spp_lab.report.inference import smallest_sign_flip_p
from spp_lab.report.stats import MIN_SEEDS
from spp_lab.stopping import SeedRule


@dataclass(frozen=True)
class Facts:
    """What the paragraph says, as the report found it."""

    conditions: list[str]
    baseline: str
    rows: str
    metric: str
    seeds: list[int]
    rule: SeedRule | None
    correction: str
    changes: pd.DataFrame  # spp_lab.report.precision.changes: p_adj, perm_different, ...
    steps: int  # changes in the family of steps
    step_splits: int  # steps where the t-test and the sign flips disagree
    runs: int  # finished runs in the tables
    far: int  # of them, far from their cell


def _seeds(f: Facts) -> str:
    if f.rule is None:
        listed = (f"seeds {f.seeds[0]}–{f.seeds[-1]}" if f.seeds == list(range(
            f.seeds[0], f.seeds[-1] + 1)) else "seeds " + ", ".join(map(str, f.seeds)))
        return (f"{len(f.seeds)} seeds per cell ({listed}), the same for every condition, so "
                f"each change against {f.baseline} is paired by seed")
    r = f.rule
    cap = f", within a budget of {r.budget.text()}" if r.budget else ""
    return (f"a pilot of {r.min} seeds per cell, then as many seeds as the pilot's spread "
            f"needs for a 95% interval of ±{r.target:g} points (Stein's two-stage rule; at "
            f"most {r.max}{cap}), the same seeds for every condition of a cell, so each "
            f"change against {f.baseline} is paired by seed")


def _tests(f: Facts) -> str:
    m = len(f.changes)
    if f.correction == "holm":
        one = f.steps == 1
        second = (f" (the {f.steps} step{'' if one else 's'} between consecutive conditions "
                  f"form{'s' if one else ''} a second family, adjusted alike)"
                  if f.steps else "")
        how = (f"Holm-adjusted over the family of the table's {m} change{'' if m == 1 else 's'}"
               f" against {f.baseline}{second}")
    else:
        how = "not adjusted for the table's other changes"
    n = sorted(s for s in set(f.changes["seeds"].astype(int)) if s >= MIN_SEEDS)  # tested
    split = int((f.changes["different"] != f.changes["perm_different"]).sum())
    parts = ([f"{split} of {len(f.changes)} changes (listed under Seeds and precision)"]
             if split else []) + ([f"{f.step_splits} of {f.steps} steps (listed under Step "
                                   "by step)"] if f.step_splits else [])
    agree = ("it agrees with the t-test's verdict on every change and step" if not parts
             else "it disagrees with the t-test's verdict on " + " and ".join(parts))
    floor = (f"; with {n[0]} pairs it cannot go below p = {smallest_sign_flip_p(n[0]):.3g}"
             if n and smallest_sign_flip_p(n[0]) > 0.05 else "")
    test = ("its paired t-test" if f.rule is None else "its paired t-test (Stein's: the "
            f"pilot's SD, with {f.rule.min - 1} degrees of freedom)")
    return (f"A change is called different from {f.baseline} where the two-sided p-value of "
            f"{test}, {how}, is at most 0.05. As a check that assumes no "
            "normality, each change's exact sign-flip permutation p-value (all 2^n "
            f"assignments of signs to its n paired differences) is given beside it: {agree}"
            f"{floor}.")


def paragraph(f: Facts) -> str:
    """The methods paragraph, in Markdown."""
    interval = ("its 95% Student-t interval" if f.rule is None else
                "Stein's 95% interval, t(0.975, pilot − 1) · pilot SD / √seeds, which keeps "
                "its coverage after the seeds were chosen from the pilot")
    far = (f"{f.far} of them ended far from their cell (outside the 99% prediction "
           "interval of the cell's other runs) and are kept in every number" if f.far else
           "none of them ended far from its cell")
    return (f"**Methods.** The {len(f.conditions)} conditions ({', '.join(f.conditions)}) "
            f"were run for each value of {f.rows} with {_seeds(f)}. Each cell is reported "
            "as the mean ± the 95% Student-t interval over its seeds, and each change as the "
            f"mean of its paired differences ± {interval}. {_tests(f)} Effect sizes are the "
            f"mean paired changes in points of {title(f.metric)}, with their medians and "
            f"interquartile means. The tables use {f.runs} finished runs; {far}.")


def latex(text: str) -> str:
    """The paragraph for a LaTeX document."""
    from spp_lab.report.tables import _tex

    body = text.replace("**Methods.**", r"\paragraph{Methods.}").replace("√", r"$\sqrt{}$")
    return _tex(body).replace("2^n", "$2^n$").replace("·", r"$\cdot$") + "\n"
