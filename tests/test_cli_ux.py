"""What users of LightningCLI, Hydra and W&B Sweeps reach for: a printed config that loads
back, a grid from the command line, a sweep file for `wandb agent`, progress, help."""

from __future__ import annotations

import json
import os
import subprocess

import yaml

from spp_lab.runner.expand import expand
from spp_lab.runner.experiment import load_experiment
from tests.conftest import BIN, ROOT, spp_lab, tiny_experiment

TINY = ["model.stem=small", "model.width=0.125", "model.batchnorm=true", "model.fc_dim=64",
        "model.levels=[2,1]", "data.image_size=32", "data.num_train=64", "data.num_val=32",
        "train.epochs=2", "train.optimizer=adamw"]


def test_print_config_is_yaml_that_train_accepts_back(tmp_path):
    proc = spp_lab("train", *TINY, "model.head=global", "--print-config")
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["model"]["head"] == "global" and cfg["train"]["precision"] == "32-true"
    (tmp_path / "c.yaml").write_text(proc.stdout)
    again = spp_lab("train", str(tmp_path / "c.yaml"), "--print_config")  # LightningCLI
    assert again.returncode == 0 and again.stdout == proc.stdout


def test_ls_config_prints_a_jobs_resolved_config():
    jobs = expand(load_experiment(str(ROOT / "experiments.yaml")), gpus=[])
    proc = spp_lab("ls", str(ROOT / "experiments.yaml"), "--config", jobs[4].run_id[:6])
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout) == jobs[4].config.model_dump(mode="json")


def test_multirun_from_the_command_line_equals_the_file_it_prints(tmp_path):
    args = ["-m", "model.head=pool,spp", "model.arch=zf5,overfeat5", *TINY[:4],
            "model.pool5_bins=2", "data.image_size=32", f"output_dir={tmp_path / 'res'}",
            "--seeds", "0-1"]
    printed = spp_lab("run", *args, "--print-experiment")
    assert printed.returncode == 0, printed.stderr
    (tmp_path / "m.yaml").write_text(printed.stdout)
    listed = json.loads(spp_lab("ls", *args, "--json").stdout)
    from_file = json.loads(spp_lab("ls", str(tmp_path / "m.yaml"), "--json").stdout)
    assert [j["run_id"] for j in listed["jobs"]] == [j["run_id"] for j in from_file["jobs"]]
    assert len(listed["jobs"]) == 8 and listed["experiment"] == "m-head-arch"
    conditions = {j["condition"] for j in listed["jobs"]}
    assert conditions == {"head=pool", "head=spp"}
    bad = spp_lab("run", "-m", "model.head=pool")
    assert bad.returncode == 2 and "no key has more than one value" in bad.stderr


def test_export_sweep_and_one_agent_style_run(tmp_path):
    exp = tiny_experiment(tmp_path / "sw.yaml", tmp_path / "res", rest="""
        grid: {model.arch: [zf5, overfeat5]}
        conditions: {no SPP: {model.head: pool}, SPP: {model.head: spp}}
        seeds: [0, 1]
        report: {metric: val_top1_err}
        """)
    proc = spp_lab("export-sweep", "sw.yaml", "-o", "sweep.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sweep = yaml.safe_load((tmp_path / "sweep.yaml").read_text())
    assert sweep["command"][2:5] == ["train", "--experiment", "sw.yaml"]  # as given
    assert sweep["method"] == "grid" and sweep["name"] == "sw"
    assert sweep["metric"] == {"name": "val_top1_err", "goal": "minimize"}
    assert sweep["parameters"] == {"condition": {"values": ["no SPP", "SPP"]},
                                   "seed": {"values": [0, 1]},
                                   "model.arch": {"values": ["zf5", "overfeat5"]}}
    # What `wandb agent` runs for one point of the grid: ${args_no_hyphens} = key=value.
    point = {"condition": "SPP", "seed": 1, "model.arch": "overfeat5"}
    cmd = [c for c in sweep["command"] if c != "${env}" and c != "${args_no_hyphens}"]
    cmd = [str(BIN / "spp-lab") if c == "spp-lab" else c for c in cmd]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    run = subprocess.run(cmd + [f"{k}={v}" for k, v in point.items()], capture_output=True,
                         text=True, env=env, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    (job,) = [j for j in expand(load_experiment(str(exp)), gpus=[])
              if j.condition == "SPP" and j.seed == 1 and j.config.model.arch == "overfeat5"]
    status = json.loads((tmp_path / "res/sw/runs" / job.run_id / "status.json").read_text())
    assert status["state"] == "done" and status["wandb"]["group"] == "sw"
    assert status["wandb"]["id"] == f"sw-{job.run_id}" and status["condition"] == "SPP"
    listed = json.loads(spp_lab("ls", str(exp), "--json").stdout)
    assert listed["counts"]["done"] == 1  # the same run folder `spp-lab run` would use
    # The agent sent the same point again: done already, exit 0 (a sweep records no failure).
    again = subprocess.run(cmd + [f"{k}={v}" for k, v in point.items()], capture_output=True,
                           text=True, env=env, timeout=300, cwd=tmp_path)
    assert again.returncode == 0 and "already done" in again.stdout, again.stderr


def test_train_prints_a_line_per_epoch_and_help_lists_choices(tmp_path):
    proc = spp_lab("train", *TINY, f"output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("epoch ")]
    assert [x.split(" ·")[0] for x in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "at epoch 1)" in proc.stdout or "at epoch 2)" in proc.stdout  # 1-based
    help_text = spp_lab("train", "--help").stdout
    assert "One of: max, avg, avgmax, catavgmax" in help_text
    assert "One of: sgd, adamw" in help_text and "One of: auto, 32-true, 16-mixed" in help_text
    assert "train.sizes" in help_text and "Default: []" in help_text and "[[]]" not in help_text


def test_make_publish_copies_every_table_format(tmp_path):
    report = tmp_path / "results" / "x" / "report"
    report.mkdir(parents=True)
    names = ["report.md", "table_a.md", "table_a.tex", "table_a.html", "table_a.csv",
             "gains.png"]
    for name in names:
        (report / name).write_text(name)
    proc = subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "publish"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "docs/results/x").iterdir()) == sorted(names)
