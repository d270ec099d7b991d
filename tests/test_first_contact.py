"""What a new user meets first: full-scale recipes that can be listed away from their data,
an image folder with the faults real folders have, a mistyped grid, a file handed to the
wrong command, and the Python API beside the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, add_faults, spp_lab, spp_lab_cpu, write_digits

RECIPES = ["ablations/sppnet_imagenet.yaml", "ablations/caltech101.yaml"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_full_scale_recipes_list_export_and_dry_run_away_from_their_data(recipe, tmp_path):
    for args in (["ls", recipe], ["export-sweep", recipe, "-o", str(tmp_path / "s.yaml")],
                 ["run", recipe, "--executor", "slurm", "--dry-run"]):
        proc = spp_lab(*args, cwd=ROOT)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "does not exist (on this machine; each job checks its data where it runs)" \
            in proc.stderr
    # A wrong root (a folder of other folders) is one line, not a list of them.
    for i in range(30):
        (tmp_path / "home" / f"project{i}" / "src").mkdir(parents=True)
    proc = spp_lab("ls", recipe, "--set", f"data.root={tmp_path / 'home'}", cwd=ROOT)
    assert proc.returncode == 0 and proc.stderr.count("\n") == 1
    assert "is not an image folder: none of its 30 folders holds an image" in proc.stderr
    # Where the jobs run on this machine, the missing data is an error before any job.
    local = spp_lab("run", recipe, cwd=ROOT)
    assert local.returncode == 2 and "does not exist" in local.stderr
    assert "Traceback" not in local.stderr


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """scikit-learn's digits (3 classes) with a hidden folder, a README, a .DS_Store and a
    truncated PNG."""
    root = tmp_path_factory.mktemp("faulty") / "digits"
    write_digits(root, per_class=12, classes=(3, 5, 8))
    return root, add_faults(root)


def test_check_data_names_the_bad_file_and_caches_the_good_ones(faulty, tmp_path):
    root, faults = faulty
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for _ in range(2):  # the second time from the cache: the same verdict
        proc = spp_lab("check-data", "data.name=imagefolder", f"data.root={root}",
                       cwd=tmp_path, env=env)
        assert proc.returncode == 2, proc.stderr
        assert f"bad: data.root: {faults['truncated']} is not a readable image" in proc.stdout
        assert f"check-data: {root}: 37 images, 1 bad" in proc.stdout  # 3 × 12 + truncated
    assert list((tmp_path / "cache" / "spp-lab").glob("verified-*.json"))


def test_a_bad_image_in_training_is_a_user_error_naming_the_file(faulty, tmp_path):
    root, faults = faulty
    args = ["data.name=imagefolder", f"data.root={root}", "data.image_size=32",
            "train.epochs=1", "data.val_fraction=0.25", "train.checkpoint=false"]
    train = spp_lab("train", *args, cwd=tmp_path)
    assert train.returncode == 2 and "Traceback" not in train.stderr
    assert f"{faults['truncated']} is not a readable image" in train.stderr
    run = spp_lab("run", "-m", "model.head=spp,global", *args, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "0 done, 2 failed" in run.stdout and "truncated.png" in run.stdout
    statuses = [json.loads(p.read_text()) for p in tmp_path.glob("results/m-*/runs/*/status.json")]
    assert [s["attempts"] for s in statuses] == [1, 1]  # a user error is not retried
    skip = spp_lab("train", *args, "data.skip_bad=true", "experiment=skip", cwd=tmp_path)
    assert skip.returncode == 0, skip.stderr
    (run,) = (tmp_path / "results/skip/runs").iterdir()
    data = json.loads((run / "metrics.json").read_text())["data"]
    assert data["skipped_bad"] == 1 and data["ignored"] == 1  # the PNG; the README.txt
    assert data["train"] + data["val"] == 36  # 3 classes × 12, nothing hidden among them


def test_a_mistyped_grid_is_refused_before_it_is_expanded(tmp_path):
    proc, cpu = spp_lab_cpu("ls", "-m", "model.head=spp,pool", "--seeds", "0-1000000",
                            cwd=tmp_path)
    assert proc.returncode == 2 and cpu < 2.5  # refused before a million jobs exist
    assert proc.stderr.strip() == ("spp-lab: error: --seeds 0-1000000: 1,000,001 seeds; an "
                                   "experiment may have at most 10,000 jobs")
    big = tmp_path / "big.yaml"
    big.write_text("name: big\ngrid: {model.arch: [zf5, overfeat5]}\nconditions: {a: "
                   "{model.head: spp}, b: {model.head: pool}}\nseeds: "
                   f"{list(range(2501))}\n")
    proc = spp_lab("ls", str(big), cwd=tmp_path)
    assert proc.returncode == 2
    assert ("model.arch 2 × conditions 2 × seeds 2501 = 10,004 jobs; an experiment may have "
            "at most 10,000") in proc.stderr


def test_files_handed_to_the_wrong_command_get_one_sentence(tmp_path):
    proc = spp_lab("train", str(ROOT / "experiments.yaml"), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "is an experiment file, not a run config: run it with `spp-lab run" in proc.stderr


def test_a_switch_the_head_ignores_is_refused_before_it_costs_jobs(tmp_path):
    sweep = ["-m", "model.head=pool,spp", "model.levels=[3,2,1],[2,1]"]
    for command in ("ls", "run"):
        proc = spp_lab(command, *sweep, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert ("model.levels ([3, 2, 1], [2, 1]) reaches condition 'head=pool', whose head "
                "does not read it") in proc.stderr
        assert "(exclude: [{condition: head=pool, model.levels: [[2, 1]]}])" in proc.stderr
    assert not (tmp_path / "results").exists()  # nothing ran
    # the file --print-experiment writes, with the exclude the message names, runs 3 jobs
    text = spp_lab("ls", *sweep, "--print-experiment", cwd=tmp_path).stdout
    (tmp_path / "m.yaml").write_text(text + "exclude: [{condition: head=pool, model.levels: "
                                     "[[2, 1]]}]\n")
    proc = spp_lab("ls", "m.yaml", cwd=tmp_path)
    assert proc.returncode == 0 and "3 jobs · 3 new" in proc.stdout, proc.stderr
    # one value for the condition is one job: nothing repeated, nothing refused
    (tmp_path / "one.yaml").write_text("name: one\ngrid: {model.levels: [[2, 1]]}\n"
                                       "conditions: {a: {model.head: pool}, b: {}}\n")
    one = spp_lab("ls", "one.yaml", cwd=tmp_path)
    assert one.returncode == 0 and "2 jobs" in one.stdout, one.stderr


def test_the_api_selects_and_dry_runs_as_the_command_does(tmp_path):
    cli = spp_lab("run", str(ROOT / "experiments.yaml"), "--dry-run", "--only",
                  "model.arch=zf5,condition=no SPP", cwd=tmp_path)
    ids = [line.split()[2] for line in cli.stdout.splitlines() if "would run" in line]
    code = f"""
from spp_lab import run_experiment
jobs = run_experiment({str(ROOT / 'experiments.yaml')!r}, dry_run=True,
                      only=["model.arch=zf5,condition=no SPP"])
print(" ".join(jobs["run_id"]))
"""
    api = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True)
    assert api.returncode == 0, api.stderr
    assert len(ids) == 3 and api.stdout.split() == ids


def test_an_exported_run_stands_alone_and_scores_as_the_torch_model(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the onnx extra")
    import numpy as np
    import onnx
    import torch
    from PIL import Image

    from spp_lab.module import SPPClassifier

    root = write_digits(tmp_path / "digits", per_class=15, classes=(0, 6, 9))
    args = ["data.name=imagefolder", f"data.root={root}", "data.image_size=32",
            "train.epochs=2", "data.val_fraction=0.2", "model.width=0.125"]
    assert spp_lab("train", *args, cwd=tmp_path).returncode == 0
    run = next((tmp_path / "results/default/runs").iterdir())
    proc = spp_lab("export", str(run), cwd=tmp_path)  # at the training size, 32 px
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in run.glob("*.onnx*")) == ["model-32px.onnx"]  # one file
    props = {p.key: p.value for p in onnx.load(str(run / "model-32px.onnx")).metadata_props}
    assert json.loads(props["classes"]) == ["0", "6", "9"] and props["image_size"] == "32"
    # Real images as a user has them: RGB pixels, 0-255, at the input size.
    files = sorted(root.glob("*/*.png"))[::4]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB").resize((32, 32)),
                                  dtype=np.float32).transpose(2, 0, 1) for f in files])
    sess = ort.InferenceSession(str(run / "model-32px.onnx"))
    got = sess.run(None, {"image": pixels})[0]  # a batch of any size
    assert got.shape == (len(files), 3) and sess.get_inputs()[0].shape[0] == "batch"
    model = SPPClassifier.load_from_checkpoint(run / "checkpoints/last.ckpt",
                                               map_location="cpu", weights_only=True).eval()
    with torch.no_grad():
        want = model(torch.from_numpy(pixels).to(torch.uint8)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_the_api_runs_from_a_script_without_a_main_guard(tmp_path):
    """multiprocessing imports the caller's script in each job process; an unguarded
    ``run_experiment`` there would start the grid again. Job processes never import it."""
    script = tmp_path / "study.py"
    script.write_text(f"""
from spp_lab import run_experiment
print("script top level")
runs = run_experiment({str(ROOT / 'experiments.yaml')!r}, smoke=True, report=False,
                      only=["model.arch=zf5,condition=no SPP,seed=0"], verbose=False)
print("statuses", runs["status"].tolist(), runs["attempts"].tolist())
""")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("script top level") == 1
    assert "statuses ['done'] [1]" in proc.stdout  # one attempt, not a failed one retried
