"""The waves of a study whose seeds are a rule (``seeds: {min, max, target, budget}``):
the pilot, the decision (:mod:`spp_lab.stopping`), the added seeds (no torch).

The runner decides between waves, so this works the same on every executor. Decisions are
recorded in ``results/<name>/seed_plan.json`` as soon as a cell's pilot is complete and are
never revised for the same rule: a rerun, or a study interrupted at any point, continues
the same plan, and a finished seed is never discarded.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from spp_lab.fileio import Corrupt, read_model, write_json
from spp_lab.metrics import get_metric
from spp_lab.runner.executors.base import Outcome
from spp_lab.runner.experiment import cell_key
from spp_lab.runner.job import Job
from spp_lab.stopping import SeedPlan, SeedRule, decide


def baseline_of(exp: Any) -> str:
    return exp.report.baseline or next(iter(exp.conditions), "default")


def recorded_plan(exp: Any, folder: Any) -> tuple[SeedPlan | None, str | None]:
    """The folder's plan if it was made under the file's rule, metric and baseline; else
    None, with a note when a plan for another rule is set aside."""
    if not isinstance(exp.seeds, SeedRule):
        return None, None
    try:
        plan = read_model(folder.seed_plan, SeedPlan)
    except Corrupt as err:
        return None, f"{err}; the decisions are made again from the pilot"
    if plan is None:
        return None, None
    if (plan.rule, plan.metric, plan.baseline) != (exp.seeds, exp.report.metric,
                                                   baseline_of(exp)):
        return None, (f"{folder.seed_plan} was decided under another rule ({plan.rule.text()}, "
                      f"{plan.metric}); the decisions are made again for "
                      f"{exp.seeds.text()}")
    return plan, None


def _pilots(exp: Any, jobs: list[Job]) -> tuple[list, dict[str, float]]:
    """(key, values, condition → metric per pilot seed) of each cell whose pilot is all done,
    and the mean wall time of its pilot jobs."""
    rule, source = exp.seeds, get_metric(exp.report.metric).source
    cells: dict[str, list[Job]] = {}
    for job in jobs:
        if job.seed < rule.min:
            cells.setdefault(cell_key(dict(job.cell)), []).append(job)
    out, cost = [], {}
    for key, cell in cells.items():
        snaps = [(j, j.folder.read()) for j in sorted(cell, key=lambda j: j.seed)]
        if any(s.state.state != "done" for _, s in snaps):
            continue
        by_cond: dict[str, list[float]] = {}
        for job, snap in snaps:
            value = (snap.metrics.get(source[0]) or {}).get(source[1])
            by_cond.setdefault(job.condition, []).append(value)
        if any(v is None for vals in by_cond.values() for v in vals):
            continue  # a run that did not record the metric: nothing to decide from
        out.append((key, dict(cell[0].cell), by_cond))
        times = [s.metrics.get("wall_time_s") or 0.0 for _, s in snaps]
        cost[key] = sum(times) / len(times)
    return out, cost


def record_decisions(exp: Any, folder: Any, jobs: list[Job]) -> list[str]:
    """Decide every cell whose pilot is complete and that has no decision yet; write the plan;
    return one line per new decision."""
    plan, _ = recorded_plan(exp, folder)
    decided = {c.key for c in plan.cells} if plan else set()
    pilots, cost = _pilots(exp, jobs)
    pilots = [p for p in pilots if p[0] not in decided]
    if not pilots:
        return []
    rule = exp.seeds
    unit = {k: 1.0 for k in cost} if rule.budget is None or rule.budget.jobs else cost
    if plan is not None and rule.budget is not None:  # what earlier decisions spent
        spent = sum((c.seeds - rule.min) * (len(c.pilot_sd) + 1) for c in plan.cells)
        rule = _less_budget(rule, spent, cost)
    new = decide(rule, pilots, baseline_of(exp), unit, exp.report.metric)
    cells = (plan.cells if plan else []) + new.cells
    write_json(folder.seed_plan, SeedPlan(rule=exp.seeds, metric=new.metric,
                                          baseline=new.baseline, cells=cells)
               .model_dump(mode="json"))
    return [describe(c, exp.seeds) for c in new.cells]


def _less_budget(rule: SeedRule, spent_jobs: int, cost: dict[str, float]) -> SeedRule:
    b = rule.budget
    if b.jobs is not None:
        return rule.model_copy(update={"budget": b.model_copy(
            update={"jobs": max(b.jobs - spent_jobs, 0)})})
    mean = sum(cost.values()) / max(len(cost), 1)
    return rule.model_copy(update={"budget": b.model_copy(
        update={"seconds": max(b.seconds - spent_jobs * mean, 0.0)})})


def describe(cell: Any, rule: SeedRule) -> str:
    """``zf5: 12 seeds (9 added)`` or why the cell stops at its pilot."""
    name = " ".join(f"{k}={v}" for k, v in cell.values.items()) or "the grid"
    sd = max((s for s in cell.pilot_sd.values() if s is not None), default=0.0)
    if cell.status == "reachable":
        return (f"{name}: {cell.seeds} seeds ({cell.seeds - rule.min} added) for ±"
                f"{rule.target:g} at pilot SD {sd:.2f}")
    why = f"max {rule.max}" if cell.status == "over max" else "the budget"
    return (f"{name}: stops at its {rule.min} pilot seeds: ±{rule.target:g} would need "
            f"≈ {cell.need} seeds at SD {sd:.2f}, over {why}")


def merge(a: Outcome, b: Outcome) -> Outcome:
    out = Outcome()
    for f in fields(Outcome):
        x, y = getattr(a, f.name), getattr(b, f.name)
        setattr(out, f.name, x + y if isinstance(x, list) else x | y if isinstance(x, dict)
                else x or y)
    return out


def plan_lines(p: Any) -> list[str]:
    """What ``ls`` says of a seed rule: seeds planned, done and still to come per cell."""
    if not isinstance(p.exp.seeds, SeedRule):
        return []
    rule = p.exp.seeds
    plan, note = recorded_plan(p.exp, p.folder)
    lines = [f"seeds: {rule.text()}" + (f"; {note}" if note else "")]
    cells: dict[str, list[Job]] = {}
    for job in p.every_job:
        cells.setdefault(cell_key(dict(job.cell)), []).append(job)
    for key, jobs in cells.items():
        seeds = sorted({j.seed for j in jobs})
        state = {j.run_id: (p.states[j.run_id] if j.run_id in p.states
                            else p.folder.run(j.run_id).state()).state for j in jobs}
        undone = {j.seed for j in jobs if state[j.run_id] != "done"}
        done = [s for s in seeds if s not in undone]  # done in every condition of the cell
        cell = next((c for c in plan.cells if c.key == key), None) if plan else None
        planned = (describe(cell, rule) if cell else
                   f"{' '.join(f'{k}={v}' for k, v in json.loads(key).items()) or 'the grid'}"
                   f": pilot of {rule.min} seeds, then decided")
        lines.append(f"  {planned} · {len(done)} of {len(seeds)} seeds done, "
                     f"{len(seeds) - len(done)} to come")
    return lines
