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
import json
import math
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Strict,
    Tag,
    ValidationError,
)

from spp_lab.config import RunConfig, flatten, set_dotted
from spp_lab.errors import UserError, format_validation_error, load_yaml
from spp_lab.runfolder import ReportSpec
from spp_lab.runner.job import Job
from spp_lab.schema import MAX_JOBS, FolderName
from spp_lab.stopping import SeedPlan, SeedRule


class ExperimentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: FolderName = Field(description="results/<name>/")
    description: str = ""
    base: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    conditions: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    seeds: Annotated[
        Annotated[list[Annotated[int, Strict(), Field(ge=0)]], Field(min_length=1),
                  Tag("list")] | Annotated[SeedRule, Tag("rule")],
        Discriminator(lambda v: "rule" if isinstance(v, dict | SeedRule) else "list")] = Field(
        default_factory=lambda: [0], description="train.seed of each job, or a rule that "
        "adds seeds until each change is resolved (spp_lab.stopping)")
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    report: ReportSpec = Field(default_factory=ReportSpec)
    retries: Annotated[int, Strict(), Field(ge=0)] = Field(
        1, description="extra attempts for a failed job (user errors are not retried)")
    _source: str = PrivateAttr("experiment")
    # executor name → its section's keys as given (validated against its settings schema)
    _executors: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    _smoke: bool = PrivateAttr(False)  # each job shrunk by shrink()
    _plan: SeedPlan | None = PrivateAttr(None)  # a seed rule's decisions so far

    def seeds_of(self, cell: dict[str, Any]) -> list[int]:
        """A cell's seeds: the list, or a rule's pilot plus what its plan added."""
        if not isinstance(self.seeds, SeedRule):
            return list(self.seeds)
        planned = self._plan.seeds_of(cell_key(cell)) if self._plan else None
        return list(range(planned or self.seeds.min))


def cell_key(cell: dict[str, Any]) -> str:
    """A cell (its grid and zip values) as the text that names it in a seed plan."""
    return json.dumps(cell, sort_keys=True, default=str)


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
    return parse_experiment(load_yaml(path), str(path))


def parse_experiment(raw: Any, path: str) -> ExperimentFile:
    """An experiment file's content (a mapping) validated; errors name ``path``."""
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with name, base, grid, conditions, ...")
    for key in ("grid", "zip"):
        for k, v in (raw.get(key) or {}).items() if isinstance(raw.get(key), dict) else []:
            if not isinstance(v, list):
                raise UserError(f"{path}: {key}.{k}: expected a list of values, got {v!r}")
    raw, sections = _executor_sections(raw, path)
    try:
        exp = ExperimentFile.model_validate(raw)
    except ValidationError as err:
        text = format_validation_error(err, ExperimentFile, source=path)
        text = text.replace("seeds.rule.", "seeds.").replace("seeds.rule:", "seeds:")
        text = text.replace("seeds.list", "seeds")
        raise UserError(text.replace("seeds: Input should be a valid list", "seeds: expected "
                                     "a list of seeds or a rule {min, max, target, budget}"))\
            from None
    exp._source, exp._executors = str(path), sections
    return exp


def as_tree(exp: ExperimentFile) -> dict[str, Any]:
    """The experiment as a file would give it (non-default keys, executor sections)."""
    return (exp.model_dump(mode="json", exclude_defaults=True) | {"name": exp.name}
            | exp._executors)


def _executor_sections(raw: dict[str, Any], path: str
                       ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split off the executors' sections (``slurm:``) and shorthand keys (``workers:``),
    each checked against its executor's settings schema; unknown keys are errors."""
    from spp_lab.runner.executors import executor_names, executor_spec, shorthand_owner

    names, owner = executor_names(), shorthand_owner()
    known = [*ExperimentFile.model_fields, *names, *owner]
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"{path}: {key}: unknown key{hint} Allowed keys: "
                            f"{', '.join(known)}.")
    core = {k: v for k, v in raw.items() if k in ExperimentFile.model_fields}
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
        settings = executor_spec(name).settings
        try:
            settings.model_validate(given)
        except ValidationError as err:
            text = format_validation_error(err, settings, prefix=name, source=path)
            for key in top:
                text = text.replace(f": {name}.{key}:", f": {key}:")
            raise UserError(text) from None
    return core, {n: g for n, g in sections.items() if g}


def _check_sections(exp: ExperimentFile, base_tree: dict[str, Any], src: str
                    ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Every key of grid, zip, conditions, report and exclude against the schema, every
    value against the config; returns the conditions and exclude rules as dotted maps."""
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
    for key in (exp.report.rows, *exp.report.interaction):
        if key != "condition":
            _schema_key(key, f"{src}: report.{'rows' if key == exp.report.rows else 'interaction'}")
    rules = [_overrides(r) for r in exp.exclude]
    for i, rule in enumerate(rules):
        for key in rule:
            if key not in ("condition", "seed"):
                _schema_key(key, f"{src}: exclude[{i}].{key}")
    return conditions, rules


def expand(exp: ExperimentFile, src: str | None = None, gpus: list | None = None) -> list[Job]:
    """Every job of the experiment, in order: cell (grid × zip) × condition × seed.
    ``gpus``: where the jobs will run (``train.precision: auto`` is resolved for them)."""
    from spp_lab.runner.devices import resolve_auto
    from spp_lab.runs import run_id

    src = src or exp._source
    base_tree = _validate({**exp.base, "experiment": exp.name}, "base", src).model_dump(
        mode="json")
    if "data.image_size" not in flatten(exp.base):  # each job's architecture's own size
        base_tree["data"].pop("image_size")
    conditions, rules = _check_sections(exp, base_tree, src)
    zip_rows = list(zip(*exp.zip.values())) if exp.zip else [()]
    n_seeds = exp.seeds.max if isinstance(exp.seeds, SeedRule) else len(exp.seeds)
    count = math.prod(len(v) for v in exp.grid.values()) * len(zip_rows) * len(
        conditions) * n_seeds
    if count > MAX_JOBS:
        sizes = " × ".join([f"{k} {len(v)}" for k, v in exp.grid.items()]
                           + ([f"zip {len(zip_rows)}"] if exp.zip else [])
                           + [f"conditions {len(conditions)}", f"seeds {n_seeds}"])
        raise UserError(f"{src}: {sizes} = {count:,} jobs; an experiment may have at most "
                        f"{MAX_JOBS:,} (spp_lab.schema.MAX_JOBS): split it, or sweep fewer "
                        "values")
    jobs: list[Job] = []
    seen: dict[str, str] = {}
    used = [False] * len(rules)
    for cell in itertools.product(*exp.grid.values(), zip_rows):
        cell_values = dict(zip(exp.grid, cell[:-1])) | dict(zip(exp.zip, cell[-1]))
        for cname, over in conditions.items():
            for seed in exp.seeds_of(cell_values):
                values = cell_values | over
                flat = _with_input_size(flatten(_apply(base_tree, values)))
                hits = [_matches(rule, flat, cname, seed) for rule in rules]
                used = [u or h for u, h in zip(used, hits)]
                if any(hits):
                    continue
                cfg = _validate(_apply(base_tree, values | {"train.seed": seed}), "",
                                f"{src}: job {values}")
                cfg = resolve_auto(shrink(cfg) if exp._smoke else cfg, gpus or [])
                rid, label = run_id(cfg), f"{cname} {cell_values} seed {seed}"
                if rid in seen:
                    raise UserError(f"{src}: jobs '{seen[rid]}' and '{label}' have identical "
                                    f"configs (run {rid}); make the conditions differ")
                seen[rid] = label
                jobs.append(Job(rid, cname, seed, values, cfg, tuple(cell_values.items())))
    for i, u in enumerate(used):
        if not u:
            raise UserError(f"{src}: exclude[{i}] {exp.exclude[i]} matches no job; check its "
                            "keys and values against `spp-lab ls`")
    if not jobs:
        raise UserError(f"{src}: exclude removes every job; nothing to run")
    return jobs


def unread_switches(exp: ExperimentFile, jobs: list[Job]) -> list[str]:
    """Grid or zip keys that take two or more values in a condition whose head never reads
    them: those jobs give the same numbers under different ids; one note per (key,
    condition), saying what to write instead."""
    from spp_lab.models._api import HEAD_SWITCHES, head_spec

    found: dict[tuple[str, str], list[Any]] = {}
    for job in jobs:
        spec = head_spec(job.config.model.head)
        for key, value in job.values.items():
            leaf = key.removeprefix("model.")
            if key.startswith("model.") and leaf in HEAD_SWITCHES and leaf not in spec.uses:
                seen = found.setdefault((key, job.condition), [])
                seen += [] if value in seen else [value]
    notes = []
    for (key, cname), vals in found.items():
        if len(vals) < 2:  # one value: one job, nothing repeated
            continue
        keep = vals[1:]
        notes.append(f"{key} ({', '.join(map(repr, vals))}) reaches condition {cname!r}, "
                     "whose head does not read it: those jobs would give the same numbers "
                     f"under different run ids. Set {key} in the conditions whose head "
                     f"reads it, or exclude all but one value for {cname!r} (exclude: "
                     f"[{{condition: {cname}, {key}: {json.dumps(keep)}}}])")
    return notes


def _with_input_size(flat: dict[str, Any]) -> dict[str, Any]:
    """``flat`` with ``data.image_size`` where the job takes its architecture's own."""
    if "data.image_size" in flat:
        return flat
    from spp_lab.models.weights import input_size

    try:
        size = input_size(flat["model.arch"], flat.get("model.pretrained", False))
    except ValueError:
        size = None  # an unknown name: validating the job says so
    return flat | {"data.image_size": size}


def _matches(rule: dict[str, Any], flat: dict[str, Any], condition: str, seed: int) -> bool:
    for key, want in rule.items():
        have = condition if key == "condition" else seed if key == "seed" else flat.get(key)
        # A list matches any of its items; for list-valued keys, the list itself also matches.
        options = want if isinstance(want, list) else [want]
        if have not in options and have != want:
            return False
    return True


def prepare(path: str | dict[str, Any], use_smoke: bool = False,
            overrides: list[str] | None = None) -> ExperimentFile:
    """The experiment file (a path, or its content as ``-m`` builds it), validated, with
    ``--set`` overrides and ``--smoke`` applied; not expanded yet."""
    exp = load_experiment(path) if isinstance(path, str) else parse_experiment(path, "-m")
    exp = with_overrides(exp, overrides or [])
    return smoke(exp) if use_smoke else exp


def smoke(exp: ExperimentFile) -> ExperimentFile:
    """The same grid with each job shrunk (:func:`shrink`), under results/<name>-smoke/."""
    out = exp.model_copy(update={"name": f"{exp.name}-smoke"})
    out._source, out._smoke = exp._source, True
    return out


def shrink(cfg: RunConfig) -> RunConfig:
    """A job cut to 1 epoch of 2 batches of at most 8 images and no checkpoints (a full-size
    Overfeat-7 checkpoint is about 0.5 GB): seconds, whatever the recipe."""
    d, t = cfg.data, cfg.train
    return cfg.model_copy(update={
        "data": d.model_copy(update={"num_train": min(d.num_train, 64),
                                     "num_val": min(d.num_val, 32),
                                     "num_test": min(d.num_test, 32),
                                     "batch_size": 8 if d.batch_size == "auto" else
                                     min(d.batch_size, 8)}),
        "train": t.model_copy(update={"epochs": 1, "limit_train_batches": 2,
                                      "limit_val_batches": 1, "checkpoint": False})})


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
    out._source, out._smoke = exp._source, exp._smoke
    return out
