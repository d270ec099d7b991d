"""The schemas of a results folder's JSON files (no torch): ``status.json``,
``metrics.json`` (:class:`Metrics`), ``experiment.json`` (:class:`ExperimentSpec`, with the
experiment file's ``report`` section, :class:`ReportSpec`). Unknown keys of a run's files
are kept (a newer release's); numbers are finite."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spp_lab.metrics import get_metric
from spp_lab.results.states import STATES


class _Schema(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class Status(_Schema):
    state: str = Field(pattern="^(" + "|".join(STATES[:-1]) + ")$")
    attempts: int = Field(0, ge=0)


class FinalMetrics(_Schema):
    val_top1_err: float = Field(ge=0, le=100)
    val_top5_err: float | None = None
    val_loss: float | None = None
    train_loss: float | None = None
    train_top1_err: float | None = None


class BestMetrics(_Schema):
    val_top1_err: float = Field(ge=0, le=100)
    val_top5_err: float | None = None
    epoch: int = Field(ge=0)  # the best epoch, counted from first_epoch


class Metrics(_Schema):
    """``metrics.json``: written once, when a job finishes. Read back, epochs count from 1
    whichever release wrote it (0.1.0 counted from 0 and wrote no ``first_epoch``)."""

    final: FinalMetrics
    best: BestMetrics
    epochs: int = Field(ge=1)
    first_epoch: int = Field(0, ge=0, le=1)
    test: dict[str, float | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _from_one(self) -> Metrics:
        if self.first_epoch == 0:
            self.best.epoch += 1
            self.first_epoch = 1
        return self


class ReportSpec(BaseModel):
    """The ``report`` section of an experiment file and of ``experiment.json``."""

    model_config = ConfigDict(extra="forbid")
    metric: str = Field("val_top1_err", description="metric of the tables (metrics registry)")
    baseline: str | None = Field(None, description="condition gains are measured against "
                                 "(default: the first condition)")
    rows: str = Field("model.arch", description="dotted key whose values are the table rows")
    interaction: list[str] = Field(
        [], description="two dotted keys with two values each: main effects and interaction")
    ci: Literal["t", "bootstrap"] = Field(
        "t", description="95% CIs: Student t, or a percentile bootstrap of the mean")
    target: float = Field(1.0, gt=0, description="a change is resolved when its 95% CI is "
                          "within ±target (the metric's units); seeds.target, if given, wins")
    correction: Literal["holm", "none"] = Field(
        "holm", description="a change is different from the baseline where its paired "
        "t-test's p, Holm-adjusted over the table's changes (holm) or not (none), is ≤ 0.05")

    @field_validator("interaction")
    @classmethod
    def _two(cls, v: list[str]) -> list[str]:
        if v and len(v) != 2:
            raise ValueError(f"give exactly two keys, got {len(v)}")
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        get_metric(v)
        return v


class ExperimentSpec(BaseModel):
    """``experiment.json``: what the report needs to know about the experiment file."""

    model_config = ConfigDict(extra="ignore")
    name: str
    description: str = ""
    source: str | None = None
    run_ids: list[str] | None = None  # the jobs the file expands to now; None: every folder
    conditions: list[str] = Field(default_factory=lambda: ["default"])
    report: ReportSpec = Field(default_factory=ReportSpec)
    grid: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    seed_rule: dict[str, Any] | None = None  # seeds: {min, max, target, budget}, as given
    row_order: list[Any] = Field(default_factory=list)
    axis_order: dict[str, list[Any]] = Field(default_factory=dict)  # swept values, file order
