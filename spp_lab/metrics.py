"""The metrics registry (no torch): every metric a run records and a report can use.

Each entry: its column in ``runs.csv``, where it comes from in ``metrics.json``, a label
for tables and charts, its unit and its direction (lower is better for errors and losses).
Validation (``report.metric``), collection, tables and charts all read this one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str  # column in runs.csv, value of report.metric
    source: tuple[str, str]  # (section, key) in metrics.json
    label: str  # axis and table caption
    unit: str  # "%" or "" (a loss)
    split: str  # "val", "test" or "train": which images it is measured on
    lower_is_better: bool = True

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


_ALL = [
    Metric("val_top1_err", ("final", "val_top1_err"), "validation top-1 error", "%", "val"),
    Metric("val_top5_err", ("final", "val_top5_err"), "validation top-5 error", "%", "val"),
    Metric("best_val_top1_err", ("best", "val_top1_err"), "best validation top-1 error", "%",
           "val"),
    Metric("best_val_top5_err", ("best", "val_top5_err"), "best validation top-5 error", "%",
           "val"),
    Metric("val_loss", ("final", "val_loss"), "validation loss", "", "val"),
    Metric("train_loss", ("final", "train_loss"), "training loss", "", "train"),
    Metric("train_top1_err", ("final", "train_top1_err"), "training top-1 error", "%", "train"),
    Metric("test_top1_err", ("test", "test_top1_err"), "test top-1 error", "%", "test"),
    Metric("test_top5_err", ("test", "test_top5_err"), "test top-5 error", "%", "test"),
    Metric("test_loss", ("test", "test_loss"), "test loss", "", "test"),
]
METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


_VIEW = re.compile(r"^test_(full|\d+)_(top1_err|top5_err|loss)$")


def get_metric(name: str) -> Metric:
    """The registered metric ``name``, or a test view's (``test_full_top1_err``,
    ``test_48_top5_err``: ``data.test_views``); else an error listing the valid ones."""
    if name in METRICS:
        return METRICS[name]
    view = _VIEW.match(name)
    if view:
        base = METRICS[f"test_{view.group(2)}"]
        where = "full images" if view.group(1) == "full" else f"{view.group(1)} px crops"
        return Metric(name, ("test", name), f"{base.label}, {where}", base.unit, "test")
    raise ValueError(f"unknown metric {name!r}; allowed: {', '.join(METRICS)}, or a test "
                     "view's test_<full|SIZE>_<top1_err|top5_err|loss>")


def title(name: str) -> str:
    """``"test top-1 error (%)"`` for a known metric, the name itself otherwise."""
    try:
        return get_metric(name).title
    except ValueError:
        return name


def top5_of(name: str) -> str | None:
    """The top-5 companion of a top-1 metric (``val_top1_err`` → ``val_top5_err``)."""
    other = name.replace("top1", "top5")
    return other if other != name and other in METRICS else None
