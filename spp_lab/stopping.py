"""Run until resolved: seeds added where a change is unresolved, by Stein's two-stage
procedure for a fixed-width 95% CI of each paired change (no torch).

A pilot of ``n0 = seeds.min`` seeds per cell (seeds ``0 … n0−1``) gives each change of the
cell (a condition minus the baseline, paired by seed) its standard deviation ``s0``. The
cell then gets

    N = max(n0, ⌈t²_{0.975, n0−1} · s0² / d²⌉)        (d = seeds.target)

seeds in all, the largest N over its changes, so that every condition of the cell has the
same seeds and the changes stay paired. Each change is then reported as

    mean of its N paired differences ± t_{0.975, n0−1} · s0 / √N      (half-width ≤ d).

Under normal noise this interval covers the true change with probability exactly 95%
(Stein 1945): N depends on the data only through ``s0``, and the mean is independent of
``s0``. A cell whose N exceeds ``seeds.max`` (or the budget) stops at the pilot, with the
same exact interval, wider than ``d``, and says what it would need. Adding seeds until the
ordinary t-interval is narrow enough ("peeking") covers less than 95%; see
``tests/test_stopping.py``. The price of the exact interval is the pilot's t: on average
N ≈ (t_{0.975, n0−1} / 1.96)² × the seeds an oracle knowing σ would use, 4.8× at
``n0 = 3``, 2.0× at 5, 1.33× at 10.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator

from spp_lab.schema import Num, StrictModel

RULE = "Stein two-stage"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h)")


def t_quantile(p: float, df: Any) -> Any:
    """Student t's ``p`` quantile with ``df`` degrees of freedom (a number, or an array of
    them; NaN where ``df < 1``). The one t of spp-lab: the report, the stopping rule and the
    far-run rule read it; scipy is imported here on first use, so commands that do not
    decide or report seeds never load it."""
    import numpy as np
    from scipy import special

    d = np.asarray(df, dtype=float)
    q = np.where(d >= 1, special.stdtrit(np.maximum(d, 1), p), np.nan)
    return float(q) if q.ndim == 0 else q


def t975(df: Any) -> Any:
    """Student t 0.975 quantile (the 95% two-sided interval's) with ``df`` degrees of freedom."""
    return t_quantile(0.975, df)


def t_cdf(t: Any, df: Any) -> Any:
    """Student t's CDF at ``t`` with ``df`` degrees of freedom (arrays alike)."""
    import numpy as np
    from scipy import special

    return special.stdtr(np.maximum(np.asarray(df, dtype=float), 1), t)


def seeds_for_width(sd: Any, halfwidth: float = 1.0, max_n: int = 10_000) -> Any:
    """Smallest n ≥ 2 with ``t975(n−1) · sd / √n ≤ halfwidth``: the seeds a fixed-n t
    interval of that half-width needs at this spread (NaN where sd is NaN, inf beyond
    ``max_n``). Stein's rule, which chooses n from a pilot, is :func:`seeds_needed`."""
    import numpy as np

    s = np.asarray(sd, dtype=float).reshape(-1, 1)
    n = np.arange(2, max_n + 1).reshape(1, -1)
    ok = t975(n - 1) * s / np.sqrt(n) <= halfwidth
    first = np.where(ok.any(axis=1), n[0, ok.argmax(axis=1)], np.inf)
    return np.where(np.isnan(s[:, 0]), np.nan, first)


def seeds_needed(sd: float, n0: int, target: float) -> int:
    """Stein's N for one change: pilot SD ``sd`` from ``n0`` pairs, half-width ``target``."""
    if not sd > 0:
        return n0
    return max(n0, math.ceil((t975(n0 - 1) * sd / target) ** 2 - 1e-9))


def halfwidth(sd: float, n0: int, n: int) -> float:
    """The procedure's 95% half-width after ``n`` pairs: ``t_{n0−1} · s0 / √n``."""
    return t975(n0 - 1) * sd / math.sqrt(n)


def _budget(v: Any) -> Any:
    """``40`` (jobs) or ``'10m'`` / ``'2h'`` / ``'90s'`` (job time) → ``(amount, unit)``."""
    if isinstance(v, bool):
        raise ValueError("expected a number of jobs (40) or a duration ('10m', '2h', '90s')")
    if isinstance(v, int):
        if v < 1:
            raise ValueError("a number of jobs must be at least 1")
        return {"jobs": v}
    if isinstance(v, str) and (m := _DURATION.fullmatch(v.strip())):
        return {"seconds": float(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]]}
    if isinstance(v, dict):
        return v
    raise ValueError("expected a number of jobs (40) or a duration ('10m', '2h', '90s')")


class Budget(StrictModel):
    jobs: int | None = None  # added jobs at most
    seconds: float | None = None  # job time of the added jobs at most (sum of wall times)

    def text(self) -> str:
        return f"{self.jobs} jobs" if self.jobs is not None else f"{self.seconds:g} s of jobs"


class SeedRule(StrictModel):
    """``seeds: {min: 5, max: 40, target: 1.5, budget: 10m}`` in an experiment file."""

    min: int = Field(5, ge=3, description="pilot seeds per cell (0 … min−1); Stein's t has "
                     "min−1 degrees of freedom, so more pilot seeds waste less")
    max: int = Field(40, ge=3, description="most seeds a cell may get; a cell that would need "
                     "more stops at its pilot and says what it would need")
    target: Num = Field(gt=0, description="half-width of the 95% CI of every paired change "
                        "against the baseline, in the metric's units (1.5: ±1.5 points)")
    budget: Annotated[Budget | None, BeforeValidator(lambda v: v if v is None else
                                                     _budget(v))] = Field(
        None, description="cap on the added seeds: a number of jobs (40) or job time ('10m', "
        "'2h': the sum of the added jobs' wall times, estimated from the pilot's)")

    @model_validator(mode="after")
    def _order(self) -> SeedRule:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be at least min ({self.min})")
        return self

    def text(self) -> str:
        cap = f", budget {self.budget.text()}" if self.budget else ""
        return (f"{RULE} (pilot {self.min} seeds, target ±{self.target:g}, "
                f"max {self.max}{cap})")


class CellPlan(BaseModel):
    """One cell's decision after its pilot."""

    key: str  # the cell's grid values as JSON (sorted keys)
    values: dict[str, Any]
    pilot_sd: dict[str, float | None]  # condition → SD of its paired change in the pilot
    need: int  # Stein's N: the seeds the target needs
    seeds: int  # the seeds the cell gets: need, or the pilot where need is out of reach
    status: Literal["reachable", "over max", "over budget"]


class SeedPlan(BaseModel):
    """``results/<name>/seed_plan.json``: the decisions, so a rerun makes the same ones."""

    rule: SeedRule
    metric: str
    baseline: str
    cells: list[CellPlan] = Field(default_factory=list)

    def seeds_of(self, key: str) -> int | None:
        return next((c.seeds for c in self.cells if c.key == key), None)


def _sd(a: list[float], b: list[float] | None) -> float | None:
    """SD of the paired differences ``a − b``; None without a full pairing."""
    import numpy as np

    if b is None or len(a) != len(b):
        return None
    d = np.asarray(a, float) - np.asarray(b, float)
    return float(np.std(d, ddof=1)) if len(d) >= 2 and np.isfinite(d).all() else None


def decide(rule: SeedRule, pilots: list[tuple[str, dict[str, Any], dict[str, list[float]]]],
           baseline: str, cost: dict[str, float], metric: str) -> SeedPlan:
    """The plan for cells whose pilot is complete: ``pilots`` holds (key, values, condition →
    the metric of seeds 0 … min−1); ``cost``: per key, what one added job costs in the
    budget's unit (1 for a job budget, the pilot's mean wall time for a time budget)."""
    cells = []
    for key, values, by_cond in pilots:
        sds = {c: _sd(v, by_cond.get(baseline)) for c, v in by_cond.items() if c != baseline}
        need = max([seeds_needed(s or 0.0, rule.min, rule.target) for s in sds.values()]
                   or [rule.min])
        status = "reachable" if need <= rule.max else "over max"
        cells.append(CellPlan(key=key, values=values, pilot_sd=sds, need=need,
                              seeds=need if status == "reachable" else rule.min,
                              status=status))
    if rule.budget is not None:
        left = rule.budget.jobs if rule.budget.jobs is not None else rule.budget.seconds
        n_cond = {p[0]: len(p[2]) for p in pilots}
        price = {c.key: (c.need - rule.min) * n_cond[c.key] * cost.get(c.key, 1.0)
                 for c in cells}
        for cell in sorted((c for c in cells if c.status == "reachable"),
                           key=lambda c: price[c.key]):  # the cheapest first
            if price[cell.key] <= left:
                left -= price[cell.key]
            else:
                cell.status, cell.seeds = "over budget", rule.min
    return SeedPlan(rule=rule, metric=metric, baseline=baseline, cells=cells)
