"""Each extension point is one module of the user's own: a fixed-size head, a dataset, a
metric and an executor (tests/plugins/), copied to a temp folder and loaded through
``SPP_LAB_PLUGINS``. Nothing of the package is edited; the CLI, the API and the experiment
file pick them up from the registries."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, spp_lab

PLUGINS = ("toy_head", "toy_data", "toy_metric", "toy_executor")
TOY = ["data.name=stripes", "data.image_size=40", "data.batch_size=16", "train.epochs=2",
       "model.width=0.125", "model.fc_dim=32", "train.checkpoint=false"]

EXPERIMENT = """\
name: toys
base:
  output_dir: {out}
  data: {{name: stripes, image_size: 40, batch_size: 16}}
  model: {{width: 0.125, fc_dim: 32}}
  train: {{epochs: 1, checkpoint: false}}
conditions:
  SPP: {{model.head: spp}}
  halves: {{model.head: halves}}
seeds: [0]
report: {{metric: val_conf, baseline: halves}}
toy: {{max_jobs: 2}}
"""


@pytest.fixture(scope="module")
def plug(tmp_path_factory):
    """The four modules in a folder of their own, and the environment that loads them."""
    folder = tmp_path_factory.mktemp("plugins")
    for name in PLUGINS:
        shutil.copy(ROOT / "tests/plugins" / f"{name}.py", folder)
    return {"SPP_LAB_PLUGINS": ",".join(PLUGINS),
            "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


def test_a_fixed_size_head_and_a_dataset_train_and_the_metric_is_recorded(plug, tmp_path):
    proc = spp_lab("train", "model.head=halves", *TOY, cwd=tmp_path, env=plug)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = next((tmp_path / "results/default/runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"] == {"train": 64, "val": 32, "test": 0}  # the toy's own splits
    assert 50.0 <= metrics["final"]["val_conf"] <= 100.0  # top-1 confidence of 2 classes
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"] and all(r["val_conf"] for r in rows)
    # the head is fixed-size: multi-size training is refused by the spec's flag
    multi = spp_lab("train", "model.head=halves", "train.sizes=[32,40]", *TOY, cwd=tmp_path,
                    env=plug)
    assert multi.returncode == 2 and "halves" in multi.stderr
    assert "Traceback" not in multi.stderr


def test_the_heads_check_refuses_an_infeasible_size_before_anything_runs(plug, tmp_path):
    ok = spp_lab("ls", "-m", "model.head=halves,spp", "data.name=stripes",
                 "data.image_size=40", cwd=tmp_path, env=plug)
    assert ok.returncode == 0 and "2 jobs" in ok.stdout, ok.stderr
    bad = spp_lab("ls", "-m", "model.head=halves,spp", "data.name=stripes",
                  "data.image_size=32,40", cwd=tmp_path, env=plug)
    assert bad.returncode == 2
    assert "head='halves' needs an even conv map; 32-px inputs give 3" in bad.stderr
    train = spp_lab("train", "model.head=halves", "data.name=stripes", "data.image_size=48",
                    cwd=tmp_path, env=plug)
    assert train.returncode == 2 and "48-px inputs give 5" in train.stderr


def test_help_lists_the_registered_names(plug, tmp_path):
    proc = spp_lab("train", "--help", cwd=tmp_path, env=plug)
    assert "halves" in proc.stdout and "stripes" in proc.stdout
    run = spp_lab("run", "--help", cwd=tmp_path, env=plug)
    assert "--toy KEY=VALUE" in run.stdout and "max_jobs" in run.stdout


def test_an_executor_with_a_setting_from_file_flag_and_api(plug, tmp_path):
    exp = tmp_path / "toys.yaml"
    exp.write_text(EXPERIMENT.format(out=tmp_path / "results"))
    proc = spp_lab("run", str(exp), "--executor", "toy", cwd=tmp_path, env=plug, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "toy executor: 2 at once" in proc.stdout  # the experiment file's toy: section
    folder = tmp_path / "results/toys"
    with open(folder / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"done"}
    assert all(50.0 <= float(r["val_conf"]) <= 100.0 for r in rows)  # the toy metric
    report = (folder / "report/report.md").read_text()
    assert "confidence" in report  # the report's metric is the toy one, by its label

    flag = spp_lab("run", str(exp), "--executor", "toy", "--toy", "max_jobs=1", "--force",
                   "--only", "condition=SPP", "--no-report", cwd=tmp_path, env=plug,
                   timeout=600)
    assert flag.returncode == 0 and "toy executor: 1 at once" in flag.stdout, flag.stderr
    bad = spp_lab("run", str(exp), "--executor", "toy", "--toy", "max_jobs=0", cwd=tmp_path,
                  env=plug)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("spp-lab: error: --toy max_jobs: Input should be greater "
                                  "than 0 (got 0)")

    code = f"""
import spp_lab
from spp_lab.errors import UserError
try:
    spp_lab.run_experiment({str(exp)!r}, executor="toy", max_jobs=0, dry_run=True)
except UserError as err:
    print("refused:", err)
runs = spp_lab.run_experiment({str(exp)!r}, executor="toy", max_jobs=3, force=True,
                              only=["condition=halves"], report=False)
print("rows", len(runs), runs["status"].tolist())
"""
    api = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, **plug}, timeout=600)
    assert api.returncode == 0, api.stderr[-2000:]
    assert "toy executor: 3 at once" in api.stdout and "rows 1 ['done']" in api.stdout
    assert "refused: run_experiment(max_jobs=): Input should be greater than 0" in api.stdout
