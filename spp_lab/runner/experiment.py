"""The experiment file: base config + grid + zip + named conditions + seeds → validated jobs.

    name: table2-mini
    base: {model: {arch: zf5}, train: {epochs: 10}}     # one run's config (spp-lab train)
    grid: {model.arch: [zf5, overfeat5]}                 # cartesian product over dotted keys
    zip: {model.width: [0.25, 0.5], data.batch_size: [64, 32]}   # vary together
    conditions:                                          # ordered columns of the comparison
      no SPP: {model.head: pool}
      SPP single-size: {model.head: spp}
    seeds: [0, 1, 2]                                     # train.seed, one job per seed
    exclude: [{model.arch: overfeat5, condition: no SPP}]   # drop matching jobs
    report: {metric: val_top1_err, baseline: no SPP, rows: model.arch}

Read with safe YAML only; nothing is imported or evaluated. No torch import here.
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from spp_lab.config import RunConfig, flatten, set_dotted
from spp_lab.errors import UserError, format_validation_error, load_yaml

METRICS = ("val_top1_err", "val_top5_err", "best_val_top1_err", "best_val_top5_err",
           "val_loss", "train_loss", "test_top1_err", "test_top5_err", "test_loss")


class ReportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field("val_top1_err", description="metric of the tables, percent")
    baseline: str | None = Field(None, description="condition gains are measured against")
    rows: str = Field("model.arch", description="dotted key whose values are the table rows")
    interaction: list[str] = Field(
        [], description="two dotted keys with two values each: main effects and interaction")

    @field_validator("interaction")
    @classmethod
    def _two(cls, v: list[str]) -> list[str]:
        if v and len(v) != 2:
            raise ValueError(f"give exactly two keys, got {len(v)}")
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; allowed: {', '.join(METRICS)}")
        return v


class ExperimentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="results/<name>/")
    description: str = ""
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    conditions: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    report: ReportSpec = Field(default_factory=ReportSpec)
    workers: int | None = Field(None, ge=1, description="CPU jobs at once (default: cores/2)")
    jobs_per_gpu: int = Field(1, ge=1, description="jobs sharing one GPU")
    retries: int = Field(1, ge=0, description="extra attempts for a failed job")
    _source: str = PrivateAttr("experiment")
    _final: dict[str, Any] = PrivateAttr(default_factory=dict)  # applied after everything


@dataclass
class Job:
    run_id: str
    condition: str
    seed: int
    values: dict[str, Any]  # dotted key → value, what differs from base (grid/zip/condition)
    config: RunConfig
    cell: tuple = field(default=())


def _schema_key(key: str, where: str) -> None:
    """Check a dotted key against the run config schema; unknown parts get a did-you-mean."""
    model: type[BaseModel] | None = RunConfig
    for i, part in enumerate(key.split(".")):
        if model is None:
            raise UserError(f"{where}: {key!r}: {'.'.join(key.split('.')[:i])} is a value, "
                            "not a section")
        fields = model.model_fields
        if part not in fields:
            close = difflib.get_close_matches(part, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"{where}: unknown key {part!r} in {key!r}{hint} "
                            f"Allowed: {', '.join(fields)}")
        ann = fields[part].annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if model is not None:
        raise UserError(f"{where}: {key!r} is a section; set one of its keys, e.g. "
                        f"{key}.{next(iter(model.model_fields))}")


def _overrides(section: dict[str, Any]) -> dict[str, Any]:
    """Nested or dotted override mappings → flat dotted ones."""
    return flatten(section) if isinstance(section, dict) else section


def _validate(tree: dict[str, Any], where: str, src: str) -> RunConfig:
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as err:
        raise UserError(format_validation_error(err, RunConfig, prefix=where, source=src)) \
            from None


def _apply(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    import copy

    tree = copy.deepcopy(base)
    for key, value in values.items():
        set_dotted(tree, key, value)
    return tree


def load_experiment(path: str) -> ExperimentFile:
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with name, base, grid, conditions, ...")
    for key in ("grid", "zip"):
        for k, v in (raw.get(key) or {}).items() if isinstance(raw.get(key), dict) else []:
            if not isinstance(v, list):
                raise UserError(f"{path}: {key}.{k}: expected a list of values, got {v!r}")
    try:
        exp = ExperimentFile.model_validate(raw)
    except ValidationError as err:
        raise UserError(format_validation_error(err, ExperimentFile, source=path)) from None
    exp._source = str(path)
    return exp


def expand(exp: ExperimentFile, src: str | None = None) -> list[Job]:
    """Every job of the experiment, in order: cell (grid × zip) × condition × seed."""
    src = src or exp._source
    base = exp.base
    base_cfg = _validate({**base, "experiment": exp.name}, "base", src)
    base_tree = base_cfg.model_dump(mode="json")
    zip_len = {len(v) for v in exp.zip.values()}
    if len(zip_len) > 1:
        raise UserError(f"{src}: zip: lists must have equal lengths, got "
                        f"{ {k: len(v) for k, v in exp.zip.items()} }")
    for section, keys in (("grid", exp.grid), ("zip", exp.zip)):
        for key, values in keys.items():
            _schema_key(key, f"{src}: {section}.{key}")
            if not values:
                raise UserError(f"{src}: {section}.{key}: empty list; give at least one value")
            for i, v in enumerate(values):
                _validate(_apply(base_tree, {key: v}), f"{section}.{key}[{i}]→", src)
    conditions = {n: _overrides(c or {}) for n, c in exp.conditions.items()} or {"default": {}}
    for name, over in conditions.items():
        for key in over:
            _schema_key(key, f"{src}: conditions.{name}.{key}")
        _validate(_apply(base_tree, over), f"conditions.{name}→", src)
    if exp.report.baseline is not None and exp.report.baseline not in conditions:
        raise UserError(f"{src}: report.baseline: {exp.report.baseline!r} is not a condition; "
                        f"conditions: {', '.join(conditions)}")
    if exp.report.rows != "condition":
        _schema_key(exp.report.rows, f"{src}: report.rows")
    rules = [_overrides(r) for r in exp.exclude]
    for i, rule in enumerate(rules):
        for key in rule:
            if key not in ("condition", "seed"):
                _schema_key(key, f"{src}: exclude[{i}].{key}")

    grid_keys, zip_keys = list(exp.grid), list(exp.zip)
    zip_rows = list(zip(*exp.zip.values())) if exp.zip else [()]
    jobs: list[Job] = []
    seen: dict[str, str] = {}
    for cell in itertools.product(*exp.grid.values(), zip_rows):
        cell_values = dict(zip(grid_keys, cell[:-1])) | dict(zip(zip_keys, cell[-1]))
        for cname, over in conditions.items():
            for seed in exp.seeds:
                values = cell_values | over
                flat = flatten(_apply(base_tree, values))
                if any(_matches(rule, flat, cname, seed) for rule in rules):
                    continue
                tree = _apply(base_tree, values | {"train.seed": seed} | exp._final)
                cfg = _validate(tree, "", f"{src}: job {values}")
                from spp_lab.runs import run_id

                rid = run_id(cfg)
                label = f"{cname} {cell_values} seed {seed}"
                if rid in seen:
                    raise UserError(f"{src}: jobs '{seen[rid]}' and '{label}' have identical "
                                    f"configs (run {rid}); make the conditions differ")
                seen[rid] = label
                jobs.append(Job(rid, cname, seed, values, cfg, tuple(cell_values.items())))
    if not jobs:
        raise UserError(f"{src}: exclude removes every job; nothing to run")
    return jobs


def _matches(rule: dict[str, Any], flat: dict[str, Any], condition: str, seed: int) -> bool:
    for key, want in rule.items():
        have = condition if key == "condition" else seed if key == "seed" else flat.get(key)
        # A list matches any of its items; for list-valued keys, the list itself also matches.
        options = want if isinstance(want, list) else [want]
        if have not in options and have != want:
            return False
    return True


def smoke(exp: ExperimentFile) -> ExperimentFile:
    """The same grid shrunk to 2 small batches per job, no checkpoints (a full-size
    Overfeat-7 checkpoint is about 0.5 GB), under results/<name>-smoke/."""
    out = exp.model_copy(update={"name": f"{exp.name}-smoke"})
    data = exp.base.get("data", {})
    out._source = exp._source
    out._final = {"train.epochs": 1, "train.limit_train_batches": 2,
                  "train.limit_val_batches": 1, "train.checkpoint": False,
                  "data.num_train": min(int(data.get("num_train", 4000)), 64),
                  "data.num_val": min(int(data.get("num_val", 1000)), 32),
                  "data.batch_size": min(int(data.get("batch_size", 64)), 8)}
    return out


def with_overrides(exp: ExperimentFile, overrides: list[str]) -> ExperimentFile:
    """``--set data.root=/data/imagenet``: change ``base`` from the command line."""
    from spp_lab.config import parse_override

    if not overrides:
        return exp
    base = dict(exp.base)
    for text in overrides:
        key, value = parse_override(text)
        _schema_key(key, f"--set {text}")
        base = _apply(base, {key: value})
    out = exp.model_copy(update={"base": base})
    out._source, out._final = exp._source, exp._final
    return out
