"""``spp-lab train`` through the real console script, and its user-error contract."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import spp_lab


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_overrides):
    out = tmp_path_factory.mktemp("train")
    proc = spp_lab("train", *tiny_overrides, "data.num_test=96", f"output_dir={out}",
                   "experiment=cli")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_train_writes_a_self_describing_run_folder(trained):
    out, proc = trained
    (run,) = (out / "cli" / "runs").iterdir()
    assert f"run {run.name}:" in proc.stdout and "final val top-1 error" in proc.stdout
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["width"] == 0.125 and cfg["data"]["image_size"] == 32
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]  # epochs count from 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["final"]["val_top1_err"] == pytest.approx(float(rows[-1]["val_top1_err"]))
    assert metrics["best"]["val_top1_err"] == min(float(r["val_top1_err"]) for r in rows)
    assert 0 <= metrics["final"]["val_top1_err"] <= 100 and metrics["params"] > 0
    assert f"{metrics['final']['val_top1_err']:.2f}%" in proc.stdout
    assert (run / "checkpoints" / "last.ckpt").exists()


def test_test_error_is_the_final_model_on_held_out_scenes(trained):
    """metrics.json's test error against a by-hand evaluation of the last checkpoint on
    freshly rendered test scenes (the split no training or validation step saw)."""
    import torch

    from spp_lab.data.shapes import make_scenes, render
    from spp_lab.module import SPPClassifier

    out, proc = trained
    (run,) = (out / "cli" / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    model = SPPClassifier.load_from_checkpoint(run / "checkpoints" / "last.ckpt",
                                               weights_only=True).eval()
    scenes = make_scenes(96, seed=0, split="test")
    images = torch.stack(render(scenes, round(32 * 8 / 7), crop=32))
    with torch.no_grad():
        logits = model(images)
    top1 = 100.0 * (logits.argmax(1) != scenes.labels).float().mean().item()
    # top-5 by rank: the label is missed when 5 or more classes score strictly higher.
    rank = (logits > logits.gather(1, scenes.labels[:, None])).sum(1)
    top5 = 100.0 * (rank >= 5).float().mean().item()
    assert metrics["test"]["test_top1_err"] == pytest.approx(top1, abs=1e-4)
    assert metrics["test"]["test_top5_err"] == pytest.approx(top5, abs=1e-4)
    assert f"test top-1 error {top1:.2f}%" in proc.stdout
    val = make_scenes(96, seed=0, split="val")
    assert not torch.equal(val.labels, scenes.labels)  # a different draw from val


BAD = [
    (["model.lvls=[1]"], "model.lvls: unknown key; did you mean 'levels'?"),
    (["train.epochs=many"], "train.epochs: Input should be a valid integer"),
    (["model.arch=zf6"], "model.arch: unknown model 'zf6'; close: zf5."),
    (["model.levels=[4,0,1]"], "model.levels[1]: Input should be greater than 0 (got 0)"),
    (["train.sizes=[64,-1]"], "train.sizes[1]: Input should be greater than 0 (got -1)"),
    (["data.image_size=0"], "data.image_size: Input should be greater than 0 (got 0)"),
    (["model.pool=median"], "model.pool: must be one of 'max', 'avg'"),
    (["model.head=spp", "nonsense"], "expected dotted.key=value"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_config_gets_one_clear_message_and_exit_2(args, message):
    proc = spp_lab("train", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  arch: zf5\n  levels: [6, 3\n")
    proc = spp_lab("train", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}: YAML syntax error at line 4, column 1" in proc.stderr


def test_missing_file_and_impossible_switch_combination(tmp_path):
    proc = spp_lab("train", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = spp_lab("train", "model.head=pool", "model.pool5_bins=6", "data.image_size=32",
                   "data.num_train=16", "data.num_val=16")
    assert proc.returncode == 2 and "head='pool' cannot make 6×6 bins" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_explains_every_switch_without_importing_torch():
    proc = spp_lab("train", "--help")
    assert proc.returncode == 0
    for key in ("model.head", "model.levels", "model.pool", "model.bins", "train.sizes",
                "train.size_schedule", "data.eval_mode", "model.width"):
        assert key in proc.stdout
    code = ("import sys; from spp_lab.cli import build_parser; "
            "from spp_lab.config import load_run_config; build_parser(); "
            "load_run_config(None, ['model.head=pool']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
