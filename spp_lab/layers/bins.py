"""Bin edges of one pyramid level over one spatial axis of length ``a``.

Two formulas from the SPP-net paper (He et al., arXiv 1406.4729):

* ``adaptive`` (Appendix A): bin ``i`` of ``n`` spans ``[floor(i·a/n), ceil((i+1)·a/n))``.
  Valid for every ``a >= 1``; bins may overlap, and repeat when ``a < n``.
  This is the same rule as PyTorch's adaptive pooling.
* ``paper`` (§2.3): sliding windows, ``win = ceil(a/n)``, ``stride = floor(a/n)``,
  bin ``i`` spans ``[i·stride, i·stride + win)``. Gives exactly ``n`` bins only for some
  ``a``: ``floor((a - win)/stride) + 1 == n`` with ``stride >= 1``. Elsewhere it raises.

Pure Python, no torch: the runner and the config validation use it too.
"""

from __future__ import annotations

from collections.abc import Sequence

BIN_MODES = ("adaptive", "paper")


def adaptive_edges(a: int, n: int) -> list[tuple[int, int]]:
    """Appendix-A bins: ``[floor(i·a/n), ceil((i+1)·a/n))`` for ``i < n``."""
    return [((i * a) // n, -((-(i + 1) * a) // n)) for i in range(n)]


def paper_window(a: int, n: int) -> tuple[int, int] | None:
    """(window, stride) of the §2.3 formula, or None where it does not give ``n`` bins."""
    win, stride = -(-a // n), a // n
    if stride < 1 or (a - win) // stride + 1 != n:
        return None
    return win, stride


def paper_valid_levels(a: int, candidates: Sequence[int] = range(1, 17)) -> list[int]:
    """Levels ``n`` for which the §2.3 formula gives exactly ``n`` bins over length ``a``."""
    return [n for n in candidates if paper_window(a, n) is not None]


def check_paper_bins(height: int, width: int, levels: Sequence[int]) -> None:
    """Raise ValueError naming ``a``, ``n`` and the working levels where §2.3 bins fail."""
    for a, axis in ((height, "height"), (width, "width")):
        for n in levels:
            if paper_window(a, n) is None:
                win, stride = -(-a // n), a // n
                got = "stride 0" if stride < 1 else f"{(a - win) // stride + 1} bins"
                raise ValueError(
                    f"bins='paper' cannot pool a map of {axis} a={a} into n={n} bins "
                    f"(window ceil(a/n)={win}, stride floor(a/n)={stride} gives {got}); "
                    f"levels that work for a={a}: {paper_valid_levels(a)}; "
                    "use bins='adaptive' for any size"
                )


def fixed_window(a: int, k: int) -> tuple[int, int] | None:
    """The no-SPP baseline's pool5 over length ``a``: a window and stride giving ``k`` bins,
    the §2.3 formula where it works, else the smallest stride; None where none does."""
    found = paper_window(a, k)
    if found:
        return found
    for stride in range(max(a // k, 1), 0, -1):
        win = a - (k - 1) * stride
        if win >= 1:
            return win, stride
    return None


def paper_edges(a: int, n: int) -> list[tuple[int, int]]:
    """§2.3 bins ``[i·stride, i·stride + win)``; raises ValueError where they do not exist."""
    check_paper_bins(a, a, [n])
    win, stride = paper_window(a, n)  # type: ignore[misc]
    return [(i * stride, i * stride + win) for i in range(n)]


def edges(a: int, n: int, mode: str) -> list[tuple[int, int]]:
    """Bin edges for ``mode`` in :data:`BIN_MODES`."""
    if mode == "adaptive":
        return adaptive_edges(a, n)
    if mode == "paper":
        return paper_edges(a, n)
    raise ValueError(f"unknown bins mode {mode!r}; allowed: {', '.join(BIN_MODES)}")
