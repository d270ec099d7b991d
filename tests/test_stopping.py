"""The coverage of the reported 95% intervals after the runner chose the number of seeds:
thousands of simulated studies with a known true change. Stein's two-stage procedure (what
``seeds: {target: ...}`` runs) covers at least 95% under normal noise; the naive rule
("add a seed until the t-interval is narrower than the target") does not, so the test can
tell the two apart. Under heavy-tailed noise (a few stuck seeds) the coverage is printed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from spp_lab.stopping import SeedRule, decide, halfwidth, seeds_needed

TRUE, SD, TARGET, N0, MAX = 1.0, 2.0, 1.0, 3, 400
STUDIES = 6000


def _normal(rng, shape):
    return TRUE + SD * rng.standard_normal(shape)


def _stuck(rng, shape):
    """Mostly normal; 5% of seeds stuck far off (as a run ending near chance)."""
    x = _normal(rng, shape)
    return np.where(rng.random(shape) < 0.05, x + 15.0, x)


def stein_coverage(noise, seed=0, truth=TRUE) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    x = noise(rng, (STUDIES, MAX))
    hits, used = 0, 0
    for row in x:
        s0 = float(np.std(row[:N0], ddof=1))
        n = min(seeds_needed(s0, N0, TARGET), MAX)
        hits += abs(row[:n].mean() - truth) <= halfwidth(s0, N0, n)
        used += n
    return hits / STUDIES, used / STUDIES


def naive_coverage(noise, seed=0, truth=TRUE) -> float:
    rng = np.random.default_rng(seed)
    x = noise(rng, (STUDIES, MAX))
    n = np.arange(1, MAX + 1)
    mean = np.cumsum(x, axis=1) / n
    var = (np.cumsum(x ** 2, axis=1) - n * mean ** 2) / np.maximum(n - 1, 1)
    half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * np.sqrt(np.maximum(var, 0) / n)
    narrow = (half <= TARGET) & (n >= N0)
    stop = np.where(narrow.any(axis=1), narrow.argmax(axis=1), MAX - 1)
    rows = np.arange(STUDIES)
    return float(np.mean(np.abs(mean[rows, stop] - truth) <= half[rows, stop]))


def test_stein_covers_95_percent_and_the_naive_rule_does_not():
    cover, used = stein_coverage(_normal)
    naive = naive_coverage(_normal)
    ideal = (1.96 * SD / TARGET) ** 2  # what knowing σ would take
    print(f"\nnormal noise: Stein {cover:.3f} ({used:.1f} seeds, {used / ideal:.1f}x the "
          f"oracle's {ideal:.1f}); naive {naive:.3f}")
    assert cover >= 0.94
    assert naive < 0.93  # peeking loses coverage: the check tells the two apart


def test_coverage_under_stuck_seeds_is_reported():
    truth = TRUE + 0.05 * 15.0  # the mean change, stuck seeds included
    cover, used = stein_coverage(_stuck, seed=1, truth=truth)
    naive = naive_coverage(_stuck, seed=1, truth=truth)
    print(f"\n5% stuck seeds (+15): Stein {cover:.3f} ({used:.1f} seeds); naive {naive:.3f}")
    assert 0.0 <= naive <= 1.0 and 0.0 <= cover <= 1.0  # a figure, not a pass condition


def test_stein_by_hand():
    # s0 = 2 from 3 pilot pairs, d = 1: t(0.975, 2)² · 4 = 4.3027² · 4 = 74.05 → 75 seeds
    assert seeds_needed(2.0, 3, 1.0) == 75
    assert halfwidth(2.0, 3, 75) == pytest.approx(4.302653 * 2 / math.sqrt(75), rel=1e-6)
    assert halfwidth(2.0, 3, 75) <= 1.0
    assert seeds_needed(0.0, 5, 1.0) == 5 and seeds_needed(0.1, 5, 1.0) == 5


def test_decide_pairs_a_cell_and_spends_the_budget_where_it_resolves():
    rule = SeedRule(min=3, max=20, target=1.0, budget=12)
    base = [10.0, 11.0, 12.0]
    pilots = [  # a: two changes; c: SD √(7/3); d: SD 1
        ("a", {"arch": "a"}, {"b": base, "x": [9.5, 11.0, 11.5], "y": [9.0, 11.0, 11.0]}),
        ("c", {"arch": "c"}, {"b": base, "x": [8.0, 12.0, 11.0]}),
        ("d", {"arch": "d"}, {"b": base, "x": [9.0, 11.0, 13.0]}),
    ]
    plan = decide(rule, pilots, "b", {}, "err")
    cells = {c.key: c for c in plan.cells}
    # a: changes −0.5, 0, −0.5 (SD 0.289) and −1, 0, −1 (SD 0.577): N = ⌈4.303²·0.333⌉ = 7
    assert cells["a"].need == 7 and cells["a"].pilot_sd["y"] == pytest.approx(0.57735, 1e-4)
    assert cells["c"].need == math.ceil(4.302653 ** 2 * 7 / 3)  # SD √(7/3) → 44: over max
    assert (cells["c"].status, cells["c"].seeds) == ("over max", 3)
    # d: −1, 0, +1 (SD 1) → 19 seeds; a costs (7−3)·3 conditions = 12 jobs, d 16
    assert cells["d"].need == 19
    assert (cells["a"].status, cells["a"].seeds) == ("reachable", 7)  # the cheaper one
    assert (cells["d"].status, cells["d"].seeds) == ("over budget", 3)


def test_the_price_of_the_pilot_is_its_t_squared():
    from spp_lab.stopping import t975

    assert [round((t975(n - 1) / 1.959964) ** 2, 2) for n in (3, 5, 10)] == [4.82, 2.01, 1.33]


def test_a_stuck_seed_is_flagged_and_the_median_resists_it():
    import pandas as pd

    from spp_lab.report.precision import changes, far_runs

    done = pd.DataFrame({"run_id": list("abcdefgh"), "arch": "zf5",
                         "condition": ["no SPP"] * 4 + ["SPP"] * 4, "seed": [0, 1, 2, 3] * 2,
                         "err": [50.0, 51.0, 52.0, 53.0, 47.0, 48.0, 49.0, 75.0]})
    far = far_runs(done, "arch", "err")
    # SPP: the others of h have mean 48 and SD 1; 75 is 27 away, past t(1 − 0.01/8, 2) ·
    # √(4/3) = 23.05 of them; no SPP: none (tests/test_outliers.py has the rule's rates)
    assert far["run_id"].tolist() == ["h"] and far["cell_median"].tolist() == [48.5]
    assert far_runs(done.replace(75.0, 68.8), "arch", "err").empty  # 20.8 away: not past it
    ch = changes(done, "arch", "err", "no SPP", None, 1.0).iloc[0]
    # paired changes −3 −3 −3 +22: mean +3.25, median −3.00, IQM (middle two) −3.00
    assert (round(ch["mean"], 2), ch["median"], ch["iqm"], ch["seeds"]) == (3.25, -3.0, -3.0, 4)
    assert not ch["resolved"]


def test_a_cell_without_its_baseline_or_a_full_pairing_adds_no_seeds():
    rule = SeedRule(min=3, target=0.1)
    pilots = [("a", {"arch": "a"}, {"x": [1.0, 2.0, 4.0]}),  # the baseline was excluded
              ("b", {"arch": "b"}, {"b": [1.0, 2.0, 3.0], "x": [1.0, 5.0]})]
    cells = decide(rule, pilots, "b", {}, "err").cells
    assert [(c.need, c.seeds, c.pilot_sd) for c in cells] == [(3, 3, {"x": None})] * 2
