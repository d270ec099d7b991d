"""What a wave of a seed rule decides, pinned on small fixtures with exact expected
decisions: seeds per cell at and around ``max``, under a job budget and a time budget, in
which order, what ``seed_plan.json`` holds after two waves and after a changed baseline or
rule, the pilot of a seed list, the job cap, a repeated grid key, the IQM, and hidden
folders. Each test fails when its planted bug (docs/reliability.md) is put back."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from spp_lab.errors import UserError
from spp_lab.results import ExperimentFolder, RunFolder
from spp_lab.runner.adaptive import budget_left, pilots, record_decisions, recorded_plan
from spp_lab.runner.expand import design, expand, unread_switches
from spp_lab.runner.experiment import parse_experiment, with_seed_rule
from spp_lab.stopping import CellPlan, SeedRule, decide, t975

T2 = t975(2)  # 4.3027: Stein's t with a pilot of 3
BASE = [10.0, 11.0, 12.0]  # the baseline's pilot values


def _pilot(key: str, sd_of_change: float, conditions: int = 1):
    """A cell whose every change has pilot SD ``sd_of_change`` (changes −s, 0, +s)."""
    by_cond = {"b": BASE} | {f"x{i}": [b + d * sd_of_change for b, d in zip(BASE, (-1, 0, 1))]
                             for i in range(conditions)}
    return key, {"arch": key}, by_cond


def _with(rule: SeedRule, **changed) -> SeedRule:
    return SeedRule.model_validate(rule.model_dump() | changed)


def _target_for(need: int, sd: float = 1.0) -> float:
    """The target at which Stein's N is exactly ``need`` for pilot SD ``sd``."""
    return T2 * sd / math.sqrt(need) * 1.0001


def test_a_cell_that_needs_exactly_max_seeds_gets_them():
    rule = SeedRule(min=3, max=6, target=_target_for(6))
    (cell,) = decide(rule, [_pilot("a", 1.0)], "b", {}, "err").cells
    assert (cell.need, cell.status, cell.seeds) == (6, "reachable", 6)
    (cell,) = decide(_with(rule, max=5), [_pilot("a", 1.0)], "b", {}, "err").cells
    assert (cell.need, cell.status, cell.seeds) == (6, "over max", 3)


def test_the_budget_counts_every_job_a_seed_adds():
    """Two changes and the baseline: each added seed is 3 jobs; 5 seeds from a pilot of 3
    cost 6 jobs. A budget of 6 buys them, 5 does not (a per-seed price, 2, would)."""
    rule = SeedRule(min=3, max=10, target=_target_for(5), budget=6)
    (cell,) = decide(rule, [_pilot("a", 1.0, conditions=2)], "b", {"a": 1.0}, "err").cells
    assert (cell.need, cell.status, cell.seeds) == (5, "reachable", 5)
    rule = _with(rule, budget=5)
    (cell,) = decide(rule, [_pilot("a", 1.0, conditions=2)], "b", {"a": 1.0}, "err").cells
    assert (cell.status, cell.seeds) == ("over budget", 3)


def test_the_cheapest_cells_are_served_first():
    """Cell a (first in the grid) costs 2·(7−3) = 8 jobs, b 2·(5−3) = 4; a budget of 9
    buys b, then not a (in grid order it would buy a, then not b)."""
    t = _target_for(5)
    rule = SeedRule(min=3, max=10, target=t, budget=9)
    sd_a = t * math.sqrt(7) / T2 * 0.9999  # Stein's N = 7 for cell a
    cells = decide(rule, [_pilot("a", sd_a), _pilot("b", 1.0)], "b", {}, "err").cells
    assert [(c.key, c.need, c.status) for c in cells] == [("a", 7, "over budget"),
                                                          ("b", 5, "reachable")]


def test_seconds_are_priced_at_each_cells_mean_pilot_job(tmp_path):
    """A time budget: an added job costs its cell's mean pilot job time (not the pilot's
    total); the pilots are read from real run folders."""
    exp = parse_experiment({"name": "t", "base": {"output_dir": str(tmp_path)},
                            "conditions": {"b": {"model.head": "pool"}, "x0": {}},
                            "seeds": {"min": 3, "max": 10, "target": _target_for(5),
                                      "budget": "300s"}}, "t")
    jobs = expand(exp, seeds_of=lambda cell: [0, 1, 2])
    for job in jobs:  # pilot jobs of 10, 20, 30 s: a mean of 20
        x = BASE[job.seed] + (0 if job.condition == "b" else (-1, 0, 1)[job.seed])
        _done(job.folder, x, wall=10.0 * (job.seed + 1))
    found, cost = pilots(exp, jobs)
    assert cost == {found[0][0]: 20.0}
    (cell,) = decide(exp.rule, found, "b", cost, "test_top1_err").cells
    assert (cell.need, cell.status) == (5, "reachable")  # 2 seeds × 2 jobs × 20 s = 80 s
    tight = _with(exp.rule, budget="79s")
    assert decide(tight, found, "b", cost, "test_top1_err").cells[0].status == "over budget"


def _done(run: RunFolder, err: float, wall: float) -> None:
    """A finished run folder with test error ``err`` and wall time ``wall``."""
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_history([{"epoch": 1, "val_top1_err": err}])
    (run.metrics_file).write_text(json.dumps({
        "final": {"val_top1_err": err}, "best": {"val_top1_err": err, "epoch": 1},
        "epochs": 1, "first_epoch": 1, "test": {"test_top1_err": err}, "wall_time_s": wall}))
    run.update_status(state="done")


def test_what_earlier_decisions_spent_counts_the_baselines_jobs():
    rule = SeedRule(min=3, max=20, target=1.0, budget=20)
    earlier = [CellPlan(key="a", values={}, pilot_sd={"x0": 1.0, "x1": 1.0}, need=5, seeds=5,
                        status="reachable")]  # 2 seeds × (2 changes + the baseline)
    assert budget_left(rule, earlier, {"a": 1.0}).budget.jobs == 14
    timed = _with(rule, budget="100s")
    left = budget_left(timed, earlier, {"a": 7.0, "b": 3.0})
    assert left.budget.seconds == pytest.approx(100 - 6 * 7.0)  # its own cell's mean


def test_seed_plan_keeps_the_files_rule_and_every_decision(tmp_path):
    """Two waves decide two cells: the plan holds the rule as written (not the budget
    left) and both decisions."""
    raw = {"name": "w", "base": {"output_dir": str(tmp_path)},
           "grid": {"model.arch": ["zf5", "overfeat5"]},
           "conditions": {"b": {"model.head": "pool"}, "x0": {}},
           "seeds": {"min": 3, "max": 10, "target": _target_for(5), "budget": 40}}
    exp = parse_experiment(raw, "w")
    folder = ExperimentFolder(tmp_path / "w")
    jobs = expand(exp, seeds_of=lambda cell: [0, 1, 2])
    first = [j for j in jobs if j.config.model.arch == "zf5"]
    for job in first:
        _done(job.folder, BASE[job.seed] + (0 if job.condition == "b" else job.seed - 1), 1.0)
    lines, plan = record_decisions(exp, folder, jobs, None)
    assert len(lines) == 1 and [c.values for c in plan.cells] == [{"model.arch": "zf5"}]
    for job in jobs:
        if job not in first:
            _done(job.folder, BASE[job.seed] + (0 if job.condition == "b" else 0.0), 1.0)
    lines, plan = record_decisions(exp, folder, jobs, plan)
    saved = json.loads(folder.seed_plan.read_text())
    assert [c["values"]["model.arch"] for c in saved["cells"]] == ["zf5", "overfeat5"]
    assert saved["rule"]["budget"] == {"jobs": 40, "seconds": None}  # not 40 − 4
    assert recorded_plan(exp, folder)[0] == plan


def test_a_plan_made_for_another_baseline_or_rule_is_set_aside(tmp_path):
    raw = {"name": "p", "conditions": {"b": {"model.head": "pool"}, "x0": {}},
           "seeds": {"min": 3, "target": 1.0}, "report": {"baseline": "b"}}
    folder = ExperimentFolder(tmp_path)
    exp = parse_experiment(raw, "p")
    plan = decide(exp.rule, [_pilot("a", 1.0)], "b", {}, exp.report.metric)
    folder.seed_plan.write_text(plan.model_dump_json())
    assert recorded_plan(exp, folder) == (plan, None)
    other = parse_experiment({**raw, "report": {"baseline": "x0"}}, "p")
    found, note = recorded_plan(other, folder)
    assert found is None and "baseline b" in note and "made again" in note
    tighter = parse_experiment({**raw, "seeds": {"min": 3, "target": 0.5}}, "p")
    assert recorded_plan(tighter, folder)[0] is None


def test_a_target_over_a_seed_list_pilots_every_listed_seed():
    exp = parse_experiment({"name": "l", "seeds": [0, 1, 2, 3, 4]}, "l")
    assert with_seed_rule(exp, 1.5, None).rule.min == 5
    assert with_seed_rule(parse_experiment({"name": "l", "seeds": [0, 1]}, "l"), 1.5,
                          None).rule.min == 3  # a pilot has 3 seeds at least


def test_the_job_cap_counts_a_rules_max_and_allows_exactly_ten_thousand():
    conditions = {f"c{i}": {"model.levels": [i + 1]} for i in range(10)}
    ok = {"name": "cap", "grid": {"train.epochs": list(range(1, 26))},
          "conditions": conditions, "seeds": {"min": 3, "max": 40, "target": 1.0}}
    design(parse_experiment(ok, "cap"))  # 25 × 10 × 40 = 10,000 exactly: allowed
    over = {**ok, "seeds": {"min": 3, "max": 41, "target": 1.0}}
    with pytest.raises(UserError, match="seeds 41 = 10,250 jobs"):
        design(parse_experiment(over, "cap"))  # the pilot's 3 would be 750 only


def test_a_grid_key_is_refused_for_its_values_not_its_jobs():
    """model.levels is not read by the pool head: one value over two seeds repeats
    nothing (no refusal); two values do."""
    one = {"name": "u", "grid": {"model.levels": [[2, 1]]}, "seeds": [0, 1],
           "conditions": {"pool": {"model.head": "pool"}, "spp": {"model.head": "spp"}}}
    assert unread_switches(expand(parse_experiment(one, "u"))) == []
    two = {**one, "grid": {"model.levels": [[2, 1], [3, 1]]}}
    (note,) = unread_switches(expand(parse_experiment(two, "u")))
    assert note.startswith("model.levels ([2, 1], [3, 1]) reaches condition 'pool'")


def test_the_iqm_trims_by_value_not_by_seed():
    from spp_lab.report.precision import changes

    deltas = [10.0, -1.0, 0.0, 1.0, 2.0, -50.0, 3.0, 4.0]  # by seed
    done = pd.DataFrame([{"run_id": f"{c}{s}", "arch": "a", "condition": c, "seed": s,
                          "err": 50.0 + (d if c == "x" else 0.0)}
                         for s, d in enumerate(deltas) for c in ("b", "x")])
    (row,) = changes(done, "arch", "err", "b", None, 1.0).to_dict("records")
    assert row["iqm"] == pytest.approx((0.0 + 1.0 + 2.0 + 3.0) / 4)  # 2 cut from each end


def test_hidden_folders_inside_a_class_are_not_walked(tmp_path):
    from spp_lab.data.folder import scan
    from tests.conftest import write_digits

    root = write_digits(tmp_path / "d", per_class=3, classes=(1, 2))
    hidden = root / "1" / ".ipynb_checkpoints"
    hidden.mkdir()
    (hidden / "0-checkpoint.png").write_bytes((root / "1" / "0.png").read_bytes())
    (root / "2" / "__MACOSX").mkdir()
    (root / "2" / "__MACOSX" / "._0.png").write_bytes(b"\0\5\26\7")
    found = scan(root)
    assert sorted(p.relative_to(root).as_posix() for p in found.files) == [
        "1/0.png", "1/1.png", "1/2.png", "2/0.png", "2/1.png", "2/2.png"]
