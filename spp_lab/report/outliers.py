"""Runs far from their cell, with a false-flag rate that holds (no torch).

A run is *far* when it lies outside the 99% prediction interval that the cell's other runs
give for one more run, with a Bonferroni share per run:

    |x_i − m_(−i)| > t_{1 − α/(2n), n−2} · s_(−i) · √(1 + 1/(n−1)),     α = 0.01

where ``m_(−i)`` and ``s_(−i)`` are the mean and SD of the cell's other ``n − 1`` runs. Under
normal noise the left side over ``s_(−i)·√(1 + 1/(n−1))`` is exactly Student t with
``n − 2`` degrees of freedom, so each run is flagged with probability ``α/n`` and a cell of
pure noise flags any run with probability at most ``α`` = 1%, at every cell size from 3
runs (``tests/test_outliers.py`` simulates it). With 3 runs the interval is wide (t ≈ 191):
one run cannot be called far from two. A flagged run is listed, never dropped.
"""

from __future__ import annotations

import numpy as np

FAR_ALPHA = 0.01  # the most a cell of pure normal noise is flagged


def far_flags(x: np.ndarray, alpha: float = FAR_ALPHA) -> np.ndarray:
    """Which runs are far, for one cell (1-D) or cells of one size (2-D, a row each)."""
    from spp_lab.stopping import t_quantile

    x = np.atleast_2d(np.asarray(x, dtype=float))
    n = x.shape[1]
    if n < 3:
        return np.zeros(x.shape, dtype=bool).reshape(np.shape(x) if x.ndim else ())
    total, squares = x.sum(axis=1, keepdims=True), (x * x).sum(axis=1, keepdims=True)
    m = (total - x) / (n - 1)
    var = (squares - x * x - (n - 1) * m * m) / (n - 2)
    s = np.sqrt(np.clip(var, 0.0, None))
    limit = t_quantile(1 - alpha / (2 * n), n - 2) * s * np.sqrt(1 + 1 / (n - 1))
    return np.abs(x - m) > limit * (1 + 1e-12) + 1e-12
