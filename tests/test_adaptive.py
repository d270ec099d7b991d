"""A study whose seeds are a rule, with real jobs: the pilot, the decision recorded in the
experiment folder, the seed added to every condition of the cell; a SIGKILL of the runner
between the waves, then a rerun that makes the same decision and retrains nothing that had
finished; the report names the rule, the CI, the seeds and the verdict."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess

import pandas as pd

from tests.conftest import BIN, spp_lab, wait_for

STUDY = """\
name: until
base:
  output_dir: results
  model: {{width: 0.125, fc_dim: 32, levels: [2, 1], stem: small, batchnorm: true}}
  data: {{image_size: 32, num_train: 64, num_val: 64, batch_size: 32}}
  train: {{epochs: 1, checkpoint: false, threads: 1}}
conditions:
  SPP: {{model.head: spp}}
  no SPP: {{model.head: pool, model.pool5_bins: 2}}
seeds: {seeds}
report: {{baseline: no SPP}}
"""
T2 = 4.302652729749464  # t(0.975, 2)


def test_a_killed_study_continues_its_plan_and_retrains_nothing(tmp_path):
    path = tmp_path / "until.yaml"
    path.write_text(STUDY.format(seeds="[0, 1, 2]"))  # the pilot, as a plain seed list
    assert spp_lab("run", "until.yaml", "--workers", "2", "--no-report",
                   cwd=tmp_path).returncode == 0
    runs = tmp_path / "results/until/runs"
    pilot = {d.name: (d / "metrics.json").stat().st_mtime_ns for d in runs.iterdir()}
    err = {}
    for d in runs.iterdir():
        st = json.loads((d / "status.json").read_text())
        err[st["condition"], st["seed"]] = json.loads(
            (d / "metrics.json").read_text())["final"]["val_top1_err"]
    sd = float(pd.Series([err["SPP", s] - err["no SPP", s] for s in range(3)]).std())
    assert sd > 0
    target = T2 * sd / math.sqrt(4) * 1.001  # Stein's N is exactly 4 at this target
    path.write_text(STUDY.format(seeds=f"{{min: 3, max: 6, target: {target!r}}}"))
    listed = spp_lab("ls", "until.yaml", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    listed = listed.stdout
    assert "6 jobs · 6 done" in listed and "pilot of 3 seeds, then decided" in listed

    proc = subprocess.Popen([str(BIN / "spp-lab"), "run", "until.yaml", "--workers", "2"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    plan_file = tmp_path / "results/until/seed_plan.json"
    assert wait_for(plan_file.exists, timeout=60)
    proc.send_signal(signal.SIGKILL)  # between the waves: decided, the added seed not done
    proc.wait(timeout=30)
    decided = plan_file.read_bytes()
    cell = json.loads(decided)["cells"][0]
    assert (cell["need"], cell["seeds"], cell["status"]) == (4, 4, "reachable")
    assert cell["pilot_sd"]["SPP"] == sd
    listed = spp_lab("ls", "until.yaml", cwd=tmp_path).stdout
    assert "the grid: 4 seeds (1 added)" in listed and "8 jobs" in listed

    again = spp_lab("run", "until.yaml", "--workers", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert plan_file.read_bytes() == decided  # the same plan, not decided again
    assert {d: (runs / d / "metrics.json").stat().st_mtime_ns for d in pilot} == pilot
    states = [json.loads((d / "status.json").read_text()) for d in runs.iterdir()]
    assert sorted((s["condition"], s["seed"], s["state"]) for s in states) == sorted(
        (c, s, "done") for c in ("SPP", "no SPP") for s in range(4))  # paired: both got it
    assert "4 of 4 seeds done, 0 to come" in spp_lab("ls", "until.yaml", cwd=tmp_path).stdout

    plan_file.unlink()  # the same file and results give the same decisions
    redo = spp_lab("run", "until.yaml", "--no-report", cwd=tmp_path)
    assert "6 jobs · 0 to run · 6 skipped" in redo.stdout  # the pilot; then decided again
    assert "the grid now: 8 done" in redo.stdout and plan_file.read_bytes() == decided
    report = (tmp_path / "results/until/report/report.md").read_text()
    assert "Stopping rule: Stein two-stage (pilot 3 seeds" in report
    assert "where the two-sided p-value of its paired t-test (Stein's: the pilot's SD, with 2 " \
        "degrees of freedom), Holm-adjusted over the family of the table's 1 change against " \
        "no SPP, is at most 0.05" in report  # two conditions: no steps
    # Stein's CI after 4 pairs: t(2) · pilot SD / √4, just within the target
    assert f"± {T2 * sd / 2:.2f} | " in report
    assert re.search(rf"\(.\d+\.\d\d ± {T2 * sd / 2:.2f}\)\*? \|", report)  # the table too
    assert re.search(r"\| 4 \| [^|]+ \| [^|]+ \| resolved \(±", report)  # 4 seeds, 2 p's


def test_seed_rule_messages_name_the_key_the_value_and_what_is_allowed(tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\nseeds: {min: 6, max: 4, target: 1}\n")
    (tmp_path / "l.yaml").write_text("name: l\nseeds: [0, 1, 2]\n")
    cases = [
        (["s.yaml"], "s.yaml: seeds: max (4) must be at least min (6)"),
        (["l.yaml", "--target", "-1"], "--target -1.0: Input should be greater than 0"),
        (["l.yaml", "--target", "2", "--budget", "5x"], "--budget 5x: expected a number of "
         "jobs (40) or a duration ('10m', '2h', '90s')"),
        (["l.yaml", "--budget", "5"], "--budget 5: give --target too"),
    ]
    for args, message in cases:
        proc = spp_lab("ls", *args, cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    listed = spp_lab("ls", "l.yaml", "--target", "2", "--budget", "90s", cwd=tmp_path)
    assert "seeds: Stein two-stage (pilot 3 seeds, target ±2, max 40, budget 90 s of jobs)" \
        in listed.stdout  # a seed list becomes the pilot: the same 3 jobs, the same ids
    plain = spp_lab("ls", "l.yaml", "--json", cwd=tmp_path).stdout
    ruled = spp_lab("ls", "l.yaml", "--json", "--target", "2", cwd=tmp_path).stdout
    assert json.loads(plain)["jobs"] == json.loads(ruled)["jobs"]
    from spp_lab import run_experiment

    api = run_experiment(tmp_path / "l.yaml", target=2, budget="90s", dry_run=True)
    assert sorted(api["run_id"]) == sorted(j["run_id"] for j in json.loads(ruled)["jobs"])
    (tmp_path / "r.yaml").write_text("name: r\nseeds: {target: 1}\n")
    sweep = spp_lab("export-sweep", "r.yaml", cwd=tmp_path)
    assert sweep.returncode == 2 and "a W&B sweep cannot decide between waves" in sweep.stderr


def test_progress_counts_the_jobs_of_every_wave(tmp_path):
    """A study's second wave adds to the count: never more done than jobs ("13/3 done")."""
    import io

    from spp_lab.runner.expand import expand
    from spp_lab.runner.experiment import parse_experiment
    from spp_lab.runner.progress import Progress

    jobs = expand(parse_experiment({"name": "p", "base": {"output_dir": str(tmp_path)},
                                    "conditions": {"a": {"model.head": "spp"}},
                                    "seeds": [0, 1, 2]}, "p"))
    out = io.StringIO()
    progress = Progress(out, live=False)
    for wave in (jobs[:2], jobs[2:]):
        progress.start(wave)
        for job in wave:
            progress.begin(job, tmp_path)
            progress.finish(job, "done")
        progress.stop()
    assert re.findall(r"\[(\d+)/(\d+) done", out.getvalue()) == [
        ("1", "2"), ("2", "2"), ("3", "3")]
