"""The experiment file, parsed: a plain value (no torch).

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
    workers: 2                                           # an executor's settings

Read with safe YAML only; nothing is imported or evaluated. The executors' sections
(``slurm: {...}``, and shorthand keys such as ``workers:``) are checked against their
settings schemas and kept in ``executors``. What the file expands to is
:mod:`spp_lab.runner.expand`'s; what a run of it is, :mod:`spp_lab.runner.study`'s.
"""

from __future__ import annotations

import difflib
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Strict, Tag, ValidationError

from spp_lab.config import RunConfig, set_dotted
from spp_lab.errors import UserError, format_validation_error, load_yaml
from spp_lab.results import ReportSpec
from spp_lab.schema import FolderName
from spp_lab.stopping import SeedRule

SeedList = Annotated[list[Annotated[int, Strict(), Field(ge=0)]], Field(min_length=1)]


class ExperimentFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: FolderName = Field(description="results/<name>/")
    description: str = ""
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    conditions: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    seeds: Annotated[
        Annotated[SeedList, Tag("list")] | Annotated[SeedRule, Tag("rule")],
        Discriminator(lambda v: "rule" if isinstance(v, dict | SeedRule) else "list")] = Field(
        default_factory=lambda: [0], description="train.seed of each job, or a rule that "
        "adds seeds until each change is resolved (spp_lab.stopping)")
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    report: ReportSpec = Field(default_factory=ReportSpec)
    retries: Annotated[int, Strict(), Field(ge=0)] = Field(
        1, description="extra attempts for a failed job (user errors are not retried)")
    executors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="executor name → its section's keys as given")

    @property
    def rule(self) -> SeedRule | None:
        """The seed rule, or None where the seeds are a list."""
        return self.seeds if isinstance(self.seeds, SeedRule) else None

    @property
    def baseline(self) -> str:
        """The condition changes are measured against (``report.baseline``, else the first)."""
        return self.report.baseline or next(iter(self.conditions), "default")


def cell_key(cell: dict[str, Any]) -> str:
    """A cell (its grid and zip values) as the text that names it in a seed plan."""
    return json.dumps(cell, sort_keys=True, default=str)


def load_experiment(path: str) -> ExperimentFile:
    return parse_experiment(load_yaml(path), str(path))


def parse_experiment(raw: Any, path: str) -> ExperimentFile:
    """An experiment file's content (a mapping) validated; errors name ``path``."""
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with name, base, grid, conditions, ...")
    for key in ("grid", "zip"):
        for k, v in (raw.get(key) or {}).items() if isinstance(raw.get(key), dict) else []:
            if not isinstance(v, list):
                raise UserError(f"{path}: {key}.{k}: expected a list of values, got {v!r}")
    core, sections = _executor_sections(raw, path)
    try:
        return ExperimentFile.model_validate(core | {"executors": sections})
    except ValidationError as err:
        text = format_validation_error(err, ExperimentFile, source=path)
        text = text.replace("seeds.rule.", "seeds.").replace("seeds.rule:", "seeds:")
        text = text.replace("seeds.list", "seeds")
        raise UserError(text.replace("seeds: Input should be a valid list", "seeds: expected "
                                     "a list of seeds or a rule {min, max, target, budget}")
                        ) from None


def as_tree(exp: ExperimentFile) -> dict[str, Any]:
    """The experiment as a file would give it (non-default keys, executor sections)."""
    return (exp.model_dump(mode="json", exclude_defaults=True, exclude={"executors"})
            | {"name": exp.name} | exp.executors)


def _executor_sections(raw: dict[str, Any], path: str
                       ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split off the executors' sections (``slurm:``) and shorthand keys (``workers:``),
    each checked against its executor's settings schema; unknown keys are errors."""
    from spp_lab.runner.executors import executor_names, executor_spec, shorthand_owner

    names, owner = executor_names(), shorthand_owner()
    fields = [k for k in ExperimentFile.model_fields if k != "executors"]
    known = [*fields, *names, *owner]
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"{path}: {key}: unknown key{hint} Allowed keys: "
                            f"{', '.join(known)}.")
    sections: dict[str, dict[str, Any]] = {}
    for name in names:
        given = raw.get(name) or {}
        if not isinstance(given, dict):
            raise UserError(f"{path}: {name}: expected a mapping of settings "
                            f"({', '.join(executor_spec(name).settings.model_fields)}), "
                            f"got {given!r}")
        sections[name] = dict(given)
    top = [k for k in owner if k in raw]  # shorthands: errors name them as written
    for key in top:
        if key in sections[owner[key]]:
            raise UserError(f"{path}: {key} is given twice, at the top and in {owner[key]}:")
        sections[owner[key]][key] = raw[key]
    for name, given in sections.items():
        _check_settings(name, given, top, path)
    return {k: v for k, v in raw.items() if k in fields}, {n: g for n, g in sections.items()
                                                          if g}


def _check_settings(name: str, given: dict[str, Any], top: list[str], path: str) -> None:
    from spp_lab.runner.executors import executor_spec

    settings = executor_spec(name).settings
    try:
        settings.model_validate(given)
    except ValidationError as err:
        text = format_validation_error(err, settings, prefix=name, source=path)
        for key in top:
            text = text.replace(f": {name}.{key}:", f": {key}:")
        raise UserError(text) from None


def schema_key(key: str, where: str) -> None:
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


def apply(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the nested ``base`` with the dotted ``values`` set."""
    import copy

    tree = copy.deepcopy(base)
    for key, value in values.items():
        set_dotted(tree, key, value)
    return tree


def with_overrides(exp: ExperimentFile, overrides: list[str]) -> ExperimentFile:
    """``--set data.root=/data/imagenet``: change ``base`` from the command line."""
    from spp_lab.config import parse_override

    base = dict(exp.base)
    for text in overrides:
        key, value = parse_override(text)
        schema_key(key, f"--set {text}")
        base = apply(base, {key: value})
    return exp.model_copy(update={"base": base}) if overrides else exp


def with_seed_rule(exp: ExperimentFile, target: float | None,
                   budget: int | str | None) -> ExperimentFile:
    """``--target``/``--budget`` over the file's ``seeds``: a seed list becomes a rule whose
    pilot is the whole list (at least 3 seeds), so its finished seeds keep their run ids."""
    if target is None and budget is None:
        return exp
    if target is None and exp.rule is None:
        raise UserError(f"--budget {budget}: give --target too (or seeds: {{target: ...}} in "
                        "the experiment file); a budget caps the seeds a target adds")
    given: dict[str, Any] = {"target": target} if target is not None else {}
    if budget is not None:
        given["budget"] = int(budget) if str(budget).strip().isdigit() else budget
    base = exp.rule.model_dump() if exp.rule else {"min": max(3, len(exp.seeds))}
    try:
        return exp.model_copy(update={"seeds": SeedRule.model_validate(base | given)})
    except ValidationError as err:
        e = err.errors()[0]
        flag = "--budget" if e["loc"] and e["loc"][0] == "budget" else "--target"
        shown = budget if flag == "--budget" else target
        raise UserError(f"{flag} {shown}: {e['msg'].removeprefix('Value error, ')}") from None


def shrink(cfg: RunConfig) -> RunConfig:
    """A job cut to 1 epoch of 2 batches of at most 8 images and no checkpoints (a full-size
    Overfeat-7 checkpoint is about 0.5 GB): seconds, whatever the recipe."""
    d, t = cfg.data, cfg.train
    batch = 8 if d.batch_size == "auto" else min(d.batch_size, 8)
    return cfg.model_copy(update={
        "data": d.model_copy(update={"num_train": min(d.num_train, 64),
                                     "num_val": min(d.num_val, 32),
                                     "num_test": min(d.num_test, 32), "batch_size": batch}),
        "train": t.model_copy(update={"epochs": 1, "limit_train_batches": 2,
                                      "limit_val_batches": 1, "checkpoint": False})})
