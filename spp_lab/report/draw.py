"""The report's charts into files: each drawn in a forked process where that is safe.

A chart is a pure plot function of :mod:`.plots` (a DataFrame in, a Figure out), its
arguments and a file stem; :func:`save` writes the Figure as PNG and SVG. Drawing is most
of a report's fixed cost (about a second for the gains chart and the learning curves on 2
CPUs) and the charts do not depend on each other, so :class:`Charts` draws each in a forked
process (:mod:`.parallel`) while the report goes on, or here, one after another, where
forking is not safe. Either way every file exists when the ``with`` block ends, and a
chart's error is raised there.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from spp_lab.report.parallel import can_fork, cpus, fork_pool


def save(fig: Figure, stem: Path) -> list[Path]:
    """PNG and SVG beside each other, cropped to what is drawn (as ``bbox_inches="tight"``,
    measured once for both); returns the paths."""
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.1)
    out = []
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        # no date, and element ids salted by the file name: the same data gives the same
        # bytes, so a published report diffs only where its numbers changed
        with plt.rc_context({"svg.hashsalt": path.name}):
            fig.savefig(path, dpi=120, bbox_inches=bbox,
                        metadata={"Date": None} if ext == "svg" else None)
        out.append(path)
    plt.close(fig)
    return out


def _draw(stem: Path, plot: Callable[..., Figure], args: tuple, kwargs: dict) -> None:
    save(plot(*args, **kwargs), stem)


class Charts:
    """``with Charts() as charts: charts.draw(stem, plot, *args)``; ``parallel`` None: forked
    processes where :func:`~spp_lab.report.parallel.can_fork` and there is more than one
    CPU."""

    def __init__(self, parallel: bool | None = None) -> None:
        if parallel is None:
            parallel = cpus() > 1 and can_fork()
        self._pool = fork_pool(min(cpus(), 4)) if parallel else None
        self._pending: list[Future] = []

    def draw(self, stem: Path, plot: Callable[..., Figure], *args: Any, **kwargs: Any) -> None:
        """``plot(*args, **kwargs)`` saved as ``stem.png`` and ``stem.svg``."""
        if self._pool is None:
            _draw(stem, plot, args, kwargs)
        else:
            self._pending.append(self._pool.submit(_draw, stem, plot, args, kwargs))

    def __enter__(self) -> Charts:
        return self

    def __exit__(self, kind: type | None, *_: Any) -> None:
        if self._pool is None:
            return
        try:
            if kind is None:
                for future in self._pending:
                    future.result()  # a chart's error is raised here
        finally:
            self._pool.shutdown(cancel_futures=True)
