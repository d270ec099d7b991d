"""Inference across seeds besides the t interval (no torch): Holm's correction over a
family of changes, the exact sign-flip permutation test of a paired change, and a paired
bootstrap interval.

* :func:`holm`: Holm's step-down adjusted p-values (Holm 1979). With the ``m`` finite
  p-values of a family sorted, ``p̃_(i) = max_{j ≤ i} min(1, (m − j + 1) · p_(j))``; a change
  is *different* from its reference where ``p̃ ≤ 0.05``. The chance of calling any change of
  the family different when none is stays at most 5%, whatever their dependence.
* :func:`sign_flip_p`: the two-sided p-value of "the paired differences are symmetric about
  0" (each pair's sign could be either): the share of the ``2^n`` sign assignments whose
  mean is at least as far from 0 as the observed one; every assignment up to ``n = 16``,
  else 20,000 random ones (fixed seed) and the observed. It assumes no normality, but its
  smallest value is ``2 / 2^n``: 0.25 at n = 3, 0.0625 at n = 5, below 0.05 from n = 6.
* :func:`bootstrap_ci`: the 95% percentile interval of the mean of 9,999 resamples of the
  pairs (fixed seed), from :data:`BOOT_MIN` pairs on (fewer pairs have too few distinct
  resamples to say anything).
"""

from __future__ import annotations

import functools

import numpy as np

ALPHA = 0.05
EXACT_UP_TO = 16  # sign flips enumerated up to this many pairs (65,536 assignments)
SAMPLED = 20_000  # random sign flips beyond
BOOT_MIN = 8  # pairs a bootstrap interval needs


def holm(p: np.ndarray | list[float]) -> np.ndarray:
    """Holm-adjusted p-values in the order given (NaN stays NaN, outside the family)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def fmt_p(p: float) -> str:
    """A p-value as the report prints it: ``0.012``, ``< 0.001``, ``–`` where none."""
    return "–" if not np.isfinite(p) else f"{p:.3f}" if p >= 0.001 else "< 0.001"


def smallest_sign_flip_p(n: int) -> float:
    """The smallest two-sided sign-flip p-value ``n`` pairs can give (all signs alike)."""
    return 2.0 / 2 ** n if n <= EXACT_UP_TO else 1.0 / (SAMPLED + 1)


def sign_flip_p(d: np.ndarray | list[float], seed: int = 0) -> float:
    """The sign-flip permutation p-value of the paired differences ``d`` (NaN for none);
    a report asks for the same differences from several sections: computed once."""
    d = np.asarray(d, dtype=float)
    return _sign_flip_p(d.tobytes(), seed)


@functools.lru_cache(maxsize=256)
def _sign_flip_p(data: bytes, seed: int) -> float:
    d = np.frombuffer(data, dtype=float)
    n = len(d)
    if n == 0 or not np.isfinite(d).all():
        return float("nan")
    observed = abs(d.mean())
    if n <= EXACT_UP_TO:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
        means = np.abs((1 - 2 * bits) @ d) / n
        return float(np.mean(means >= observed * (1 - 1e-12) - 1e-15))
    raw = np.random.default_rng(seed).bit_generator.random_raw((SAMPLED, (n + 63) // 64))
    plus = np.unpackbits(raw.view(np.uint8), axis=1, count=n)  # a fair bit per sign
    means = np.abs(2 * (plus @ d) - d.sum()) / n  # Σ ±d = 2·Σ(d where +) − Σd
    return float((1 + np.sum(means >= observed * (1 - 1e-12) - 1e-15)) / (SAMPLED + 1))


def bootstrap_ci(d: np.ndarray | list[float], seed: int = 0) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of the mean of ``d`` (NaN, NaN below
    :data:`BOOT_MIN` pairs); computed once per distinct ``d``, as :func:`sign_flip_p`."""
    return _bootstrap_ci(np.asarray(d, dtype=float).tobytes(), seed)


@functools.lru_cache(maxsize=256)
def _bootstrap_ci(data: bytes, seed: int) -> tuple[float, float]:
    d = np.frombuffer(data, dtype=float)
    if len(d) < BOOT_MIN or not np.isfinite(d).all():
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(9_999, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)
