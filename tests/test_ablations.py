"""Every experiment file validates; the full-scale recipes run end to end with --smoke on a
tiny generated image folder (real Lightning, 2 batches per job)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from spp_lab.runner.expand import expand
from spp_lab.runner.experiment import load_experiment
from tests.conftest import ROOT, spp_lab

FILES = sorted((ROOT / "ablations").glob("*.yaml")) + [ROOT / "experiments.yaml"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_experiment_files_validate(path):
    jobs = expand(load_experiment(str(path)))
    assert jobs and len({j.run_id for j in jobs}) == len(jobs)


def test_default_experiment_is_table2_in_miniature():
    exp = load_experiment(str(ROOT / "experiments.yaml"))
    assert list(exp.conditions) == ["no SPP", "SPP single-size", "SPP multi-size"]
    assert len(exp.grid["model.arch"]) >= 2 and len(exp.seeds) >= 3


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imagenet")
    g = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for cls in ("n01", "n02"):
            (root / split / cls).mkdir(parents=True)
            for i in range(3):
                h, w = 240 + 16 * i, 280 - 8 * i
                arr = torch.randint(0, 255, (h, w, 3), generator=g, dtype=torch.uint8)
                Image.fromarray(arr.numpy()).save(root / split / cls / f"{i}.JPEG")
    return root


# Cut to keep the suite fast: the ImageNet recipe's ZF-5 in the condition that exercises
# the most (the pyramid with multi-size training, 224 and 180 px), every condition of the
# Caltech101 recipe for one seed; the other architectures run in the GPU study's smoke
# test below and at 224 px in tests/test_models.py.
@pytest.mark.parametrize("name,only,jobs", [
    ("sppnet_imagenet.yaml", "condition=SPP multi-size,model.arch=zf5", 1),
    ("caltech101.yaml", "seed=0", 3)])
def test_full_scale_recipe_smoke_runs(image_tree, tmp_path, name, only, jobs):
    root = image_tree if name.startswith("sppnet") else image_tree / "train"
    proc = spp_lab("run", str(ROOT / "ablations" / name), "--smoke", "--workers", "2",
                   "--only", only,
                   "--set", f"data.root={root}", "--set", f"output_dir={tmp_path}",
                   "--set", "data.num_workers=0", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (exp_dir,) = tmp_path.glob("*-smoke")
    statuses = [json.loads(p.read_text()) for p in exp_dir.glob("runs/*/status.json")]
    assert len(statuses) == jobs and all(s["state"] == "done" for s in statuses)
    assert (exp_dir / "report" / "report.md").exists()
    assert not list(exp_dir.glob("runs/*/checkpoints/*.ckpt"))  # smoke runs keep no weights


def test_the_gpu_study_runs_with_smoke(tmp_path):
    """ablations/table2_gpu.yaml, cut to its four architectures in the condition that
    exercises the most (seed 0, SPP multi-size) and 2 batches a job."""
    proc = spp_lab("run", str(ROOT / "ablations" / "table2_gpu.yaml"), "--smoke",
                   "--only", "seed=0,condition=SPP multi-size", "--set",
                   f"output_dir={tmp_path}", "--workers", "2", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    statuses = [json.loads(p.read_text()) for p in tmp_path.glob("*/runs/*/status.json")]
    assert len(statuses) == 4 and all(s["state"] == "done" for s in statuses)


@pytest.mark.parametrize("name", ["finetune_folder.yaml", "finetune_textures.yaml"])
def test_the_finetuning_recipes_list_their_jobs(tmp_path, name):
    """ls on a recipe for your own folder, before the folder or the weights exist: every
    job of its pilot (3 conditions × the pilot seeds), and warnings that say what is
    missing and where, not errors (the data and weights live where the jobs run)."""
    proc = spp_lab("ls", str(ROOT / "ablations" / name), cwd=tmp_path,
                   env={"TORCH_HOME": str(tmp_path / "torch"), "SPP_LAB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    pilot = 3 if name == "finetune_folder.yaml" else 4
    assert f"{3 * pilot} jobs · {3 * pilot} new" in proc.stdout
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    if name == "finetune_folder.yaml":
        assert "fetch https://download.pytorch.org/models/resnet50-11ad3fa6.pth and put it " \
            f"at {tmp_path / 'torch/hub/checkpoints/resnet50-11ad3fa6.pth'}" in proc.stderr
