"""What a user sees is what happened: a small real folder learns with the README's recipe
(or the run says why not), a root one level too high is named, Ctrl-C on ``train`` leaves
a resumable run that says so, ``sync`` without a network is one message, a view the
baseline cannot take is said, and small command-line slips get a hint."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import pytest

from tests.conftest import BIN, ROOT, spp_lab, wait_for, write_faces, write_textures

RECIPE = ["data.name=imagefolder", "data.image_size=32", "train.epochs=5"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_faces(tmp_path_factory.mktemp("faces") / "faces")


def _run(cwd) -> dict:
    (folder,) = (cwd / "results" / "default" / "runs").iterdir()
    return {"metrics": json.loads((folder / "metrics.json").read_text()),
            "config": (folder / "config.yaml").read_text(), "folder": folder}


def test_the_readme_recipe_learns_on_a_small_real_folder(faces, tmp_path):
    """200 images, 2 classes, 32 px, 5 epochs, as README.md writes it: the batch is chosen
    for enough steps an epoch (said, and in the config), and validation error ends low."""
    assert "spp-lab train data.name=imagefolder data.root=DIR data.image_size=32 " \
           "train.epochs=5" in (ROOT / "README.md").read_text()
    proc = spp_lab("train", f"data.root={faces}", *RECIPE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "data.batch_size: auto → 16" in proc.stdout
    run = _run(tmp_path)
    assert "batch_size: 16" in run["config"]
    assert run["metrics"]["final"]["val_top1_err"] < 15
    assert run["metrics"]["notes"] == []
    assert run["metrics"]["final"]["val_top5_err"] is None  # 2 classes: no top-5


def test_a_run_that_cannot_learn_says_why(faces, tmp_path):
    """The same folder in batches of 64 (2 steps an epoch) fits its training batches and
    scores at chance: both are said on the terminal, in metrics.json and in the report."""
    proc = spp_lab("train", f"data.root={faces}", *RECIPE, "data.batch_size=64",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    notes = _run(tmp_path)["metrics"]["notes"]
    assert len(notes) == 2 and all(f"== note: {n}" in proc.stdout for n in notes)
    assert notes[0].startswith("180 training images in batches of 64 are 2 optimizer steps")
    assert "data.batch_size: 16 gives 11" in notes[0]
    assert "is at or above chance (50.0% for 2 classes)" in notes[1]


def test_a_root_one_level_too_high_is_named(faces, tmp_path):
    parent = tmp_path / "datasets"
    parent.mkdir()
    (parent / "faces").symlink_to(faces, target_is_directory=True)
    write_textures(parent / "textures", per_class=4)
    for cmd in (["check-data", str(parent)], ["train", f"data.root={parent}", *RECIPE]):
        proc = spp_lab(*cmd, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"data.root: {parent} looks one level too high: its folders (faces, " \
               f"textures) hold folders of images" in proc.stderr
        assert f"e.g. {parent / 'faces'}" in proc.stderr
    proc = spp_lab("check-data", str(parent / "textures"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "check-data: train: 4 classes: brick 4, grass 4, gravel 4, page 4" in proc.stdout


def test_ctrl_c_on_train_says_it_stopped_and_the_same_command_resumes(faces, tmp_path):
    cmd = [str(BIN / "spp-lab"), "train", f"data.root={faces}", *RECIPE[:2],
           "train.epochs=6"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "results" / "default" / "runs"

    def epochs_done() -> int:
        found = list(runs.glob("*/progress.json")) if runs.exists() else []
        return json.loads(found[0].read_text()).get("epoch", 0) if found else 0

    assert wait_for(lambda: epochs_done() >= 2, timeout=300)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    (folder,) = runs.iterdir()
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "interrupted" and status["reason"] == "SIGINT"
    assert f"spp-lab: run {folder.name} stopped (epoch " in err
    assert "the same command resumes it from its checkpoint" in err
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "== resuming from" in again.stdout, again.stderr[-2000:]
    assert json.loads((folder / "status.json").read_text())["state"] == "done"


@pytest.mark.parametrize("env,why", [
    ({"WANDB_API_KEY": "", "NETRC": "/nonexistent"}, "sync: no W&B credentials"),
    ({"WANDB_API_KEY": "k" * 40, "SPP_LAB_OFFLINE": "1"}, "cannot be reached (no network?)"),
])
def test_sync_without_a_network_or_a_key_is_one_message(env, why, tmp_path):
    run = tmp_path / "results" / "x" / "wandb" / "offline-run-20260101_000000-x-abc"
    run.mkdir(parents=True)
    (run / "run-abc.wandb").write_bytes(b":W&B\0\0\0" + b"\1" * 64)
    (tmp_path / "results" / "x" / "runs").mkdir()
    proc = spp_lab("sync", "results/x", cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr
    assert "the 1 runs stay offline in results/x/wandb" in proc.stderr
    assert run.exists()


def test_a_test_view_the_baseline_cannot_take_is_said(tmp_path):
    from tests.conftest import tiny_experiment

    exp = tiny_experiment(tmp_path / "views.yaml", tmp_path / "res", n=64, rest="""
        conditions: {no SPP: {model.head: pool, model.pool5_bins: 2}, SPP: {model.head: spp}}
        seeds: [0, 1, 2]
        report: {metric: test_top1_err, baseline: no SPP}
        """)
    text = exp.read_text().replace("num_val: 32,", "num_val: 32, num_test: 24, "
                                   "test_views: [full],")
    exp.write_text(text.replace("batch_size: 32}", "batch_size: 32, eval_mode: crop}"))
    proc = spp_lab("run", str(exp), "--workers", "2", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    root = tmp_path / "res" / "views"
    logs = {d.name: (d / "log.txt").read_text() for d in (root / "runs").iterdir()}
    said = "test view full: head 'pool' is fixed-size (it takes 32-px inputs only)"
    assert sum(said in log for log in logs.values()) == 3  # the three no-SPP runs
    report = (root / "report" / "report.md").read_text()
    assert "## Test view: full images (test_full_top1_err)" in report
    assert "Not in this table: no SPP, whose head is fixed-size and cannot take full " \
           "images" in report and "## Notes on the runs" in report
    table = (root / "report" / "table_test_full_top1_err.md").read_text()
    assert "| SPP |" in table.splitlines()[0] + " |" and "no SPP" not in table


def test_a_list_written_without_brackets_gets_a_hint(tmp_path):
    proc = spp_lab("train", "model.levels=3,2,1", "--print-config", cwd=tmp_path)
    assert proc.returncode == 2
    assert "model.levels: Input should be a valid list (got '3,2,1'); write a list in " \
           "brackets: model.levels=[3,2,1]" in proc.stderr


def test_runs_record_the_version_the_changelog_names():
    from spp_lab.runs import environment

    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(),
                        re.M).group(1)
    assert environment()["versions"]["spp-lab"] == version
    assert (ROOT / "CHANGELOG.md").read_text().split("\n## ")[1].startswith(version)
