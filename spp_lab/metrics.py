"""The metrics registry (no torch at import): what training measures, and every metric a
run records and a report can use.

A *measure* is computed on every batch of the stages it names and averaged over the epoch
(weighted by batch size): one registered function of the logits and the labels.

    @register_measure("top1_err", label="top-1 error", unit="%", stages=("train", "val",
                      "test"), best=True)
    def top1_err(logits, labels): ...

Each measure gives the metrics ``<stage>_<key>`` (``val_top1_err``, ``test_top1_err``, ...;
a ``history.csv`` column for train and val, a ``metrics.json`` value for every stage, a
``runs.csv`` column and a ``report.metric`` choice), ``best_val_<key>`` where ``best`` (its
value at the epoch of the lowest validation top-1 error), and ``test_<view>_<key>`` for
each of ``data.test_views``. The loss is the one measure the training step computes
itself (``compute`` None). History rows, ``summarize``, ``runs.csv``, W&B and the report's
metric choices all follow this registry, so a new metric is one registered function.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spp_lab.registry import Registry

STAGES = ("train", "val", "test")


@dataclass(frozen=True)
class Measure:
    key: str  # "top1_err": the metrics are <stage>_<key>
    label: str  # "top-1 error"
    unit: str  # "%", or "" (a loss)
    stages: tuple[str, ...]  # where it is measured, of STAGES
    compute: Callable[[Any, Any], Any] | None  # (logits, labels) → a scalar tensor
    best: bool = False  # also best_val_<key>
    lower_is_better: bool = True
    min_classes: int = 0  # measured only with more classes than this (top-5: 6 or more)


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


_MEASURES: Registry[Measure] = Registry("measure")


def register_measure(key: str, *, label: str, unit: str, stages: tuple[str, ...] = STAGES,
                     best: bool = False, lower_is_better: bool = True, min_classes: int = 0
                     ) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    """Register ``fn(logits, labels) -> scalar tensor`` as measure ``key`` (measured only
    where the data has more than ``min_classes`` classes)."""
    bad = set(stages) - set(STAGES)
    if bad or not stages:
        raise ValueError(f"measure {key!r}: stages must be some of {', '.join(STAGES)}")

    def wrap(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        _MEASURES.add(key, Measure(key, label, unit, tuple(stages), fn, best, lower_is_better,
                                   min_classes))
        return fn

    return wrap


def _topk_err(k: int) -> Callable[[Any, Any], Any]:
    def err(logits: Any, labels: Any) -> Any:
        kk = min(k, logits.shape[1])
        hit = (logits.detach().topk(kk, dim=1).indices == labels[:, None]).any(dim=1)
        return 100.0 * (1.0 - hit.float().mean())

    return err


_MEASURES.add("loss", Measure("loss", "loss", "", STAGES, None))
register_measure("top1_err", label="top-1 error", unit="%", best=True)(_topk_err(1))
register_measure("top5_err", label="top-5 error", unit="%", stages=("val", "test"),
                 best=True, min_classes=5)(_topk_err(5))  # 5 of 5 or fewer: always right
_STAGE_WORD = {"train": "training", "val": "validation", "test": "test"}


def measures(stage: str | None = None, num_classes: int | None = None) -> list[Measure]:
    """The registered measures (of ``stage``; that mean something with ``num_classes``
    classes), the loss first."""
    return [m for m in _MEASURES.values() if (stage is None or stage in m.stages)
            and (num_classes is None or num_classes > m.min_classes)]


def history_columns(stage: str) -> list[str]:
    """The ``history.csv`` columns of a stage: ``train_loss``, ``train_top1_err``, ..."""
    return [f"{stage}_{m.key}" for m in measures(stage)]


def _all() -> list[Metric]:
    out = []
    for stage, section in (("val", "final"), ("train", "final"), ("test", "test")):
        for m in measures(stage):
            out.append(Metric(f"{stage}_{m.key}", (section, f"{stage}_{m.key}"),
                              f"{_STAGE_WORD[stage]} {m.label}", m.unit, stage,
                              m.lower_is_better))
            if stage == "val" and m.best:
                out.append(Metric(f"best_val_{m.key}", ("best", f"val_{m.key}"),
                                  f"best validation {m.label}", m.unit, "val",
                                  m.lower_is_better))
    return out


def metrics() -> dict[str, Metric]:
    """Every metric a run records, by name (the registry as it is now)."""
    return {m.name: m for m in _all()}


_VIEW = re.compile(r"^test_(full|\d+)_(\w+)$")


def get_metric(name: str) -> Metric:
    """The registered metric ``name``, or a test view's (``test_full_top1_err``,
    ``test_48_top5_err``: ``data.test_views``); else an error listing the valid ones."""
    known = metrics()
    if name in known:
        return known[name]
    view = _VIEW.match(name)
    if view and f"test_{view.group(2)}" in known:
        base = known[f"test_{view.group(2)}"]
        where = "full images" if view.group(1) == "full" else f"{view.group(1)} px crops"
        return Metric(name, ("test", name), f"{base.label}, {where}", base.unit, "test",
                      base.lower_is_better)
    keys = "|".join(m.key for m in measures("test"))
    raise ValueError(f"unknown metric {name!r}; allowed: {', '.join(known)}, or a test "
                     f"view's test_<full|SIZE>_<{keys}>")


def title(name: str) -> str:
    """``"test top-1 error (%)"`` for a known metric, the name itself otherwise."""
    try:
        return get_metric(name).title
    except ValueError:
        return name


def top5_of(name: str) -> str | None:
    """The top-5 companion of a top-1 metric (``val_top1_err`` → ``val_top5_err``)."""
    other = name.replace("top1", "top5")
    return other if other != name and other in metrics() else None
