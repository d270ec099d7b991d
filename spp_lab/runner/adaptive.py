"""The decisions of a study whose seeds are a rule (``seeds: {min, max, target, budget}``):
the pilot, the decision (:mod:`spp_lab.stopping`), what ``ls`` says of them (no torch).

Decisions are recorded in ``results/<name>/seed_plan.json`` as soon as a cell's pilot is
complete and are never revised for the same rule, metric and baseline: a rerun, or a study
interrupted at any point, continues the same plan, and a finished seed is never discarded.
The budget is spent in jobs (a seed added to a cell is a job in every condition, the
baseline's included) or in job time (each added job at its cell's mean pilot job time).
"""

from __future__ import annotations

import json
from typing import Any

from spp_lab.fileio import Corrupt, read_model, write_json
from spp_lab.metrics import get_metric
from spp_lab.results import ExperimentFolder, RunState
from spp_lab.runner.experiment import ExperimentFile, cell_key
from spp_lab.runner.job import Job
from spp_lab.stopping import CellPlan, SeedPlan, SeedRule, decide

Pilot = tuple[str, dict[str, Any], dict[str, list[float]]]  # key, cell, condition → values


def recorded_plan(exp: ExperimentFile, folder: ExperimentFolder
                  ) -> tuple[SeedPlan | None, str | None]:
    """The folder's plan if it was made under the file's rule, metric and baseline; else
    None, with a note when a plan for another rule is set aside."""
    if exp.rule is None:
        return None, None
    try:
        plan = read_model(folder.seed_plan, SeedPlan)
    except Corrupt as err:
        return None, f"{err}; the decisions are made again from the pilot"
    if plan is None:
        return None, None
    if (plan.rule, plan.metric, plan.baseline) != (exp.rule, exp.report.metric, exp.baseline):
        return None, (f"{folder.seed_plan} was decided under another rule ({plan.rule.text()}, "
                      f"{plan.metric}, baseline {plan.baseline}); the decisions are made "
                      f"again for {exp.rule.text()}")
    return plan, None


def pilots(exp: ExperimentFile, jobs: list[Job]) -> tuple[list[Pilot], dict[str, float]]:
    """The cells whose pilot is all done, each with its values per condition, and each
    cell's mean wall time of a pilot job (seconds)."""
    rule, source = exp.rule, get_metric(exp.report.metric).source
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


def record_decisions(exp: ExperimentFile, folder: ExperimentFolder, jobs: list[Job],
                     plan: SeedPlan | None) -> tuple[list[str], SeedPlan | None]:
    """Decide every cell whose pilot (among ``jobs``) is complete and that ``plan`` has not
    decided yet, and write the plan (the file's rule, every decision so far) into
    ``folder``; one line per new decision, and the plan."""
    decided = {c.key for c in plan.cells} if plan else set()
    found, cost = pilots(exp, jobs)
    found = [p for p in found if p[0] not in decided]
    if not found:
        return [], plan
    rule = exp.rule
    unit = {k: 1.0 for k in cost} if rule.budget is None or rule.budget.jobs else cost
    if plan is not None and rule.budget is not None:
        rule = budget_left(rule, plan.cells, cost)
    new = decide(rule, found, exp.baseline, unit, exp.report.metric)
    out = SeedPlan(rule=exp.rule, metric=new.metric, baseline=new.baseline,
                   cells=(plan.cells if plan else []) + new.cells)
    write_json(folder.seed_plan, out.model_dump(mode="json"))
    return [describe(c, exp.rule) for c in new.cells], out


def budget_left(rule: SeedRule, cells: list[CellPlan], cost: dict[str, float]) -> SeedRule:
    """``rule`` with what earlier decisions spent taken off its budget: each added seed is a
    job in every condition of its cell (the baseline's too), priced in jobs or at the mean
    pilot job time."""
    b = rule.budget
    jobs = {c.key: (c.seeds - rule.min) * (len(c.pilot_sd) + 1) for c in cells}
    if b.jobs is not None:
        return rule.model_copy(update={"budget": b.model_copy(
            update={"jobs": max(b.jobs - sum(jobs.values()), 0)})})
    mean = sum(cost.values()) / max(len(cost), 1)
    spent = sum(n * cost.get(k, mean) for k, n in jobs.items())
    return rule.model_copy(update={"budget": b.model_copy(
        update={"seconds": max(b.seconds - spent, 0.0)})})


def describe(cell: CellPlan, rule: SeedRule) -> str:
    """``zf5: 12 seeds (9 added)`` or why the cell stops at its pilot."""
    name = " ".join(f"{k}={v}" for k, v in cell.values.items()) or "the grid"
    sd = max((s for s in cell.pilot_sd.values() if s is not None), default=0.0)
    if cell.status == "reachable":
        return (f"{name}: {cell.seeds} seeds ({cell.seeds - rule.min} added) for ±"
                f"{rule.target:g} at pilot SD {sd:.2f}")
    why = f"max {rule.max}" if cell.status == "over max" else "the budget"
    return (f"{name}: stops at its {rule.min} pilot seeds: ±{rule.target:g} would need "
            f"≈ {cell.need} seeds at SD {sd:.2f}, over {why}")


def plan_lines(exp: ExperimentFile, folder: ExperimentFolder, every_job: list[Job],
               states: dict[str, RunState], plan: SeedPlan | None) -> list[str]:
    """What ``ls`` says of a seed rule: seeds planned, done and still to come per cell
    (``states``: those read already; the others are read here)."""
    rule = exp.rule
    if rule is None:
        return []
    _, note = recorded_plan(exp, folder)
    lines = [f"seeds: {rule.text()}" + (f"; {note}" if note else "")]
    cells: dict[str, list[Job]] = {}
    for job in every_job:
        cells.setdefault(cell_key(dict(job.cell)), []).append(job)
    for key, jobs in cells.items():
        seeds = sorted({j.seed for j in jobs})
        state = {j.run_id: (states[j.run_id] if j.run_id in states
                            else j.folder.state()).state for j in jobs}
        undone = {j.seed for j in jobs if state[j.run_id] != "done"}
        done = [s for s in seeds if s not in undone]  # done in every condition of the cell
        cell = next((c for c in plan.cells if c.key == key), None) if plan else None
        planned = (describe(cell, rule) if cell else
                   f"{' '.join(f'{k}={v}' for k, v in json.loads(key).items()) or 'the grid'}"
                   f": pilot of {rule.min} seeds, then decided")
        lines.append(f"  {planned} · {len(done)} of {len(seeds)} seeds done, "
                     f"{len(seeds) - len(done)} to come")
    return lines
