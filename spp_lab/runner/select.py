"""``--only``: pick jobs by their values (torch-free)."""

from __future__ import annotations

from typing import Any

from spp_lab.config import flatten
from spp_lab.errors import UserError, load_yaml_text
from spp_lab.runner.job import Job


def parse_only(exprs: list[str]) -> list[dict[str, Any]]:
    """``--only "model.arch=zf5,condition=no SPP"`` → [{"model.arch": "zf5", ...}]."""
    rules = []
    for expr in exprs:
        rule = {}
        for part in _split_top(expr):
            key, sep, raw = part.partition("=")
            if not sep or not key.strip():
                raise UserError(f"--only {expr!r}: expected key=value[,key=value], e.g. "
                                "--only model.arch=zf5,condition='no SPP'")
            rule[key.strip()] = load_yaml_text(raw.strip(), f"--only {expr!r}")
        rules.append(rule)
    return rules


def _split_top(expr: str) -> list[str]:
    """Split on commas outside brackets: ``model.levels=[2, 1],seed=0`` → two parts."""
    parts, depth, cur = [], 0, ""
    for ch in expr:
        depth += ch in "[{" and 1 or ch in "]}" and -1 or 0
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def select(jobs: list[Job], rules: list[dict[str, Any]]) -> list[Job]:
    """The jobs matching any rule (all of a rule's keys); every key must exist."""
    if not rules:
        return jobs
    out = []
    for job in jobs:
        flat = flatten(job.config.model_dump(mode="json"))
        flat |= {"condition": job.condition, "seed": job.seed, "run_id": job.run_id}
        for rule in rules:
            unknown = [k for k in rule if k not in flat]
            if unknown:
                raise UserError(f"--only: unknown key {unknown[0]!r}; use condition, seed, "
                                "run_id or a dotted config key such as model.arch")
            if all(flat[k] == v or str(flat[k]) == str(v) for k, v in rule.items()):
                out.append(job)
                break
    return out
