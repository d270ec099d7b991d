"""What an experiment file expands to (no torch): its checked design, then its jobs, in
order cell (grid × zip) × condition × seed, each a validated, resolved config and run id.

:func:`design` checks every key of grid, zip, conditions, report and exclude against the
config schema and every value against the config, once; :func:`jobs_of` makes the jobs of
given cells and seeds from it, so the runner adds a seed rule's seeds between waves without
reading or checking the file again. A grid is limited to :data:`~spp_lab.schema.MAX_JOBS`
jobs (a seed rule's ``max`` counts), refused before it is expanded.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from spp_lab.config import RunConfig, flatten
from spp_lab.errors import UserError, format_validation_error
from spp_lab.runner.devices import GPU
from spp_lab.runner.experiment import ExperimentFile, apply, schema_key, shrink
from spp_lab.runner.job import Job
from spp_lab.schema import MAX_JOBS


@dataclass(frozen=True)
class Design:
    """An experiment file's checked parts: the base config as a tree (its defaults filled,
    ``data.image_size`` left to each job's architecture where the file does not give it),
    the conditions and exclude rules as dotted maps, and the cells."""

    source: str
    base: dict[str, Any]
    conditions: dict[str, dict[str, Any]]
    rules: list[dict[str, Any]]
    cells: list[dict[str, Any]]


def validate(tree: dict[str, Any], where: str, src: str) -> RunConfig:
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as err:
        raise UserError(format_validation_error(err, RunConfig, prefix=where, source=src)
                        ) from None


def _dotted(section: Any) -> dict[str, Any]:
    """Nested or dotted override mappings → flat dotted ones."""
    return flatten(section) if isinstance(section, dict) else section


def design(exp: ExperimentFile, src: str = "experiment") -> Design:
    """The file's design, every section checked (:class:`Design`); a UserError naming the
    key otherwise, or where the grid would exceed :data:`MAX_JOBS` jobs."""
    base = validate({**exp.base, "experiment": exp.name}, "base", src).model_dump(mode="json")
    if "data.image_size" not in flatten(exp.base):  # each job's architecture's own size
        base["data"].pop("image_size")
    if len({len(v) for v in exp.zip.values()}) > 1:
        raise UserError(f"{src}: zip: lists must have equal lengths, got "
                        f"{ {k: len(v) for k, v in exp.zip.items()} }")
    for section, keys in (("grid", exp.grid), ("zip", exp.zip)):
        for key, values in keys.items():
            schema_key(key, f"{src}: {section}.{key}")
            if not values:
                raise UserError(f"{src}: {section}.{key}: empty list; give at least one value")
            for i, v in enumerate(values):
                validate(apply(base, {key: v}), f"{section}.{key}[{i}]→", src)
    conditions = {n: _dotted(c or {}) for n, c in exp.conditions.items()} or {"default": {}}
    for name, over in conditions.items():
        for key in over:
            schema_key(key, f"{src}: conditions.{name}.{key}")
        validate(apply(base, over), f"conditions.{name}→", src)
    _check_report(exp, conditions, src)
    rules = [_dotted(r) for r in exp.exclude]
    for i, rule in enumerate(rules):
        for key in rule:
            if key not in ("condition", "seed"):
                schema_key(key, f"{src}: exclude[{i}].{key}")
    zipped = list(zip(*exp.zip.values())) if exp.zip else [()]
    _cap(exp, len(zipped), len(conditions), src)
    cells = [dict(zip(exp.grid, c[:-1])) | dict(zip(exp.zip, c[-1]))
             for c in itertools.product(*exp.grid.values(), zipped)]
    return Design(src, base, conditions, rules, cells)


def _check_report(exp: ExperimentFile, conditions: dict[str, Any], src: str) -> None:
    if exp.report.baseline is not None and exp.report.baseline not in conditions:
        raise UserError(f"{src}: report.baseline: {exp.report.baseline!r} is not a condition; "
                        f"conditions: {', '.join(conditions)}")
    for key in (exp.report.rows, *exp.report.interaction):
        if key != "condition":
            where = "rows" if key == exp.report.rows else "interaction"
            schema_key(key, f"{src}: report.{where}")


def _cap(exp: ExperimentFile, zipped: int, conditions: int, src: str) -> None:
    """Refuse a grid over :data:`MAX_JOBS` jobs (a rule's ``max`` seeds per cell)."""
    seeds = exp.rule.max if exp.rule else len(exp.seeds)
    count = math.prod(len(v) for v in exp.grid.values()) * zipped * conditions * seeds
    if count <= MAX_JOBS:
        return
    sizes = " × ".join([f"{k} {len(v)}" for k, v in exp.grid.items()]
                       + ([f"zip {zipped}"] if exp.zip else [])
                       + [f"conditions {conditions}", f"seeds {seeds}"])
    raise UserError(f"{src}: {sizes} = {count:,} jobs; an experiment may have at most "
                    f"{MAX_JOBS:,} (spp_lab.schema.MAX_JOBS): split it, or sweep fewer values")


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


def matches(rule: dict[str, Any], flat: dict[str, Any], condition: str, seed: int) -> bool:
    """Whether an exclude rule drops a job (a list matches any of its items)."""
    for key, want in rule.items():
        have = condition if key == "condition" else seed if key == "seed" else flat.get(key)
        options = want if isinstance(want, list) else [want]
        if have not in options and have != want:
            return False
    return True


def jobs_of(d: Design, cells: list[dict[str, Any]], seeds_of: Callable[[dict], list[int]],
            gpus: list[GPU], smoke: bool = False,
            used: list[bool] | None = None) -> list[Job]:
    """The jobs of ``cells`` × conditions × ``seeds_of(cell)`` that no rule excludes
    (``used[i]``: rule i excluded one), in that order; each config resolved for ``gpus``."""
    from spp_lab.runner.devices import resolve_auto
    from spp_lab.runs import run_id

    jobs = []
    for cell in cells:
        for cname, over in d.conditions.items():
            values = cell | over
            flat = _with_input_size(flatten(apply(d.base, values)))
            for seed in seeds_of(cell):
                hits = [matches(rule, flat, cname, seed) for rule in d.rules]
                if used is not None:
                    used[:] = [u or h for u, h in zip(used, hits)]
                if any(hits):
                    continue
                cfg = validate(apply(d.base, values | {"train.seed": seed}), "",
                               f"{d.source}: job {values}")
                cfg = resolve_auto(shrink(cfg) if smoke else cfg, gpus)
                jobs.append(Job(run_id(cfg), cname, seed, values, cfg, tuple(cell.items())))
    return jobs


def expand(exp: ExperimentFile, src: str = "experiment", gpus: list[GPU] | None = None,
           smoke: bool = False, seeds_of: Callable[[dict], list[int]] | None = None
           ) -> list[Job]:
    """Every job of the experiment (:func:`jobs_of` over :func:`design`'s cells), with each
    cell's ``seeds_of(cell)`` (default: the seed list, or a rule's pilot); an exclude rule
    that matches no job, or two jobs of one config, are user errors."""
    d = design(exp, src)
    if seeds_of is None:
        seeds = list(exp.seeds) if exp.rule is None else list(range(exp.rule.min))
        seeds_of = lambda cell: seeds  # noqa: E731
    used = [False] * len(d.rules)
    jobs = jobs_of(d, d.cells, seeds_of, gpus or [], smoke, used)
    for i, u in enumerate(used):
        if not u:
            raise UserError(f"{src}: exclude[{i}] {exp.exclude[i]} matches no job; check its "
                            "keys and values against `spp-lab ls`")
    if not jobs:
        raise UserError(f"{src}: exclude removes every job; nothing to run")
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.run_id in seen:
            a, b = seen[job.run_id], job
            raise UserError(f"{src}: jobs '{a.condition} {dict(a.cell)} seed {a.seed}' and "
                            f"'{b.condition} {dict(b.cell)} seed {b.seed}' have identical "
                            f"configs (run {job.run_id}); make the conditions differ")
        seen[job.run_id] = job
    return jobs


def unread_switches(jobs: list[Job]) -> list[str]:
    """Grid or zip keys that take two or more values in a condition whose head never reads
    them: those jobs give the same numbers under different ids; one note per (key,
    condition), saying what to write instead."""
    import json

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
        notes.append(f"{key} ({', '.join(map(repr, vals))}) reaches condition {cname!r}, "
                     "whose head does not read it: those jobs would give the same numbers "
                     f"under different run ids. Set {key} in the conditions whose head "
                     f"reads it, or exclude all but one value for {cname!r} (exclude: "
                     f"[{{condition: {cname}, {key}: {json.dumps(vals[1:])}}}])")
    return notes
