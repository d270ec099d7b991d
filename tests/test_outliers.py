"""The far-run rule's false-flag rate, simulated: pure normal noise flags at most 1% of
cells at every size it is applied to (the rule it replaces flagged 29% of 3-run cells),
and a run far off is still found."""

from __future__ import annotations

import numpy as np
import pytest

from spp_lab.report.outliers import far_flags
from spp_lab.stopping import t_quantile


def _mad_rule(x: np.ndarray) -> np.ndarray:
    """The earlier rule: more than 3.5 robust SDs (1.4826 · MAD) from the cell's median."""
    med = np.median(x, axis=1, keepdims=True)
    mad = np.median(np.abs(x - med), axis=1, keepdims=True) * 1.4826
    return np.abs(x - med) > 3.5 * mad


@pytest.mark.parametrize("n", [3, 4, 5, 10, 24])
def test_pure_noise_flags_at_most_one_percent_of_cells(n):
    cells = np.random.default_rng(n).normal(50.0, 3.0, size=(20_000, n))
    rate = far_flags(cells).any(axis=1).mean()
    assert rate <= 0.01 + 3 * np.sqrt(0.01 * 0.99 / 20_000), rate  # 1% and its MC error
    if n <= 5:  # the simulation can tell a bad rule: the old one fails it
        assert _mad_rule(cells).any(axis=1).mean() > 0.05


def test_a_run_far_off_is_found():
    rng = np.random.default_rng(7)
    cells = rng.normal(0.0, 1.0, size=(2_000, 10))
    cells[:, 3] += 12.0  # one stuck seed, 12 SDs off
    flags = far_flags(cells)
    assert flags[:, 3].mean() > 0.95 and flags[:, [0, 1, 2, 4]].mean() < 0.01


def test_the_interval_by_hand():
    """x = 1, 2, 3, 10: the others of 10 have mean 2 and SD 1, so 10 is far when
    8 > t(1 − 0.01/8, 2) · 1 · √(1 + 1/3) = 20.0 · 1.155; it is not. With 1, 2, 3, 30 it is."""
    limit = t_quantile(1 - 0.01 / 8, 2) * np.sqrt(4 / 3)
    assert 22 < limit < 24
    assert not far_flags(np.array([1.0, 2.0, 3.0, 10.0])).any()
    assert far_flags(np.array([1.0, 2.0, 3.0, 30.0]))[0].tolist() == [False] * 3 + [True]
    assert not far_flags(np.array([1.0, 50.0])).any()  # two runs: nothing to say
