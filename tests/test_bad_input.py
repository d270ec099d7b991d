"""Bad input, class by class: exit 2, one message naming the key or file and what is
allowed, no traceback, no hang, and no job started (everything is checked before)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from PIL import Image

from spp_lab.results import ExperimentFolder, ExperimentSpec
from tests.conftest import spp_lab, spp_lab_cpu

BASE = """
name: {name}
base:
  output_dir: {out}
  model: {{stem: small, width: 0.125, fc_dim: 64, levels: [2, 1]}}
  data: {{image_size: 32, num_train: 64, num_val: 32}}
  train: {{epochs: 1}}
{extra}
"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    good = root / "good"
    for cls in ("a", "b"):
        (good / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40, 40), (i * 90, 30, 60)).save(good / cls / f"{i}.png")
    (root / "empty").mkdir()
    bad = root / "corrupt"
    for cls in ("a", "b"):
        (bad / cls).mkdir(parents=True)
        for i in range(2):
            (bad / cls / f"{i}.jpg").write_bytes(b"\xff\xd8 not really a jpeg" * 10)
    (root / "junk.yaml").write_bytes(bytes(range(256)) * 8)
    return {"good": good, "empty": root / "empty", "corrupt": bad,
            "missing": root / "nowhere", "junk": root / "junk.yaml", "root": root}


def exp(tmp_path: Path, extra: str = "", name: str = "x", **replace: str) -> str:
    text = textwrap.dedent(BASE.format(name=name, out=tmp_path / "results", extra=extra))
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return str(path)


CASES = [  # (id, command builder, message)
    ("duplicate condition", lambda t, f: ["ls", exp(t, "conditions:\n  a: {}\n  a: "
                                                        "{model.head: global}")],
     "duplicate key 'a'"),
    ("duplicate base key", lambda t, f: ["ls", exp(t, "  train: {epochs: 3}")],
     "duplicate key 'train'"),
    ("bool for an int", lambda t, f: ["ls", exp(t, "", **{"epochs: 1": "epochs: true"})],
     "base.train.epochs: Input should be a valid integer"),
    ("dot-only name", lambda t, f: ["ls", exp(t, name="'..'")],
     "name: must be a plain folder name (letters, digits, _ - .), but it is empty, '.' or '..'"),
    ("train experiment=..", lambda t, f: ["train", "experiment=.."],
     "experiment: must be a plain folder name"),
    ("--gpus that do not exist", lambda t, f: ["run", exp(t), "--gpus", "abc,99"],
     "--gpus abc,99: no GPU abc, 99 on this machine"),
    ("--workers 0", lambda t, f: ["run", exp(t), "--workers", "0"],
     "--workers: Input should be greater than 0 (got 0)"),
    ("--workers -1", lambda t, f: ["run", exp(t), "--workers", "-1"],
     "--workers: Input should be greater than 0 (got -1)"),
    ("exclude matching nothing", lambda t, f: ["ls", exp(t, "exclude: [{model.arch: vgg11_bn}]")],
     "exclude[0] {'model.arch': 'vgg11_bn'} matches no job"),
    ("--only matching nothing in ls", lambda t, f: ["ls", exp(t), "--only", "seed=99"],
     "--only seed=99: selects none of the 1 jobs"),
    ("paper bins infeasible", lambda t, f: ["run", exp(t, "conditions: {p: {model.bins: paper, "
                                                        "model.levels: [4, 2, 1]}}"), "--dry-run"],
     "model.levels: bins='paper' cannot make"),
    ("8 px with the paper stem", lambda t, f: ["ls", exp(t, "conditions: {p: {model.stem: paper,"
                                                           " data.image_size: 8}}")],
     "cannot take 8-px inputs"),
    ("negative seeds", lambda t, f: ["ls", exp(t, "seeds: [-1, -2]")],
     "seeds[0]: Input should be greater than or equal to 0"),
    ("data.root missing", lambda t, f: [
        "run", exp(t, f"conditions: {{i: {{data.name: imagefolder, data.root: "
                     f"'{f['missing']}'}}}}")], "does not exist"),
    ("data.root empty", lambda t, f: ["run", exp(t, f"conditions: {{i: {{data.name: imagefolder,"
                                                    f" data.root: '{f['empty']}'}}}}")],
     "is not an image folder"),
    ("data.root of corrupt images", lambda t, f: [
        "run", exp(t, f"conditions: {{i: {{data.name: imagefolder, data.root: "
                      f"'{f['corrupt']}'}}}}")], "is not a readable image"),
    ("pool5 infeasible", lambda t, f: ["run", exp(t, "conditions: {p: {model.head: pool, "
                                                     "model.pool5_bins: 9}}")],
     "model.pool5_bins: head='pool' cannot make 9×9 bins"),
    ("binary experiment file, ls", lambda t, f: ["ls", str(f["junk"])], "not a YAML text file"),
    ("binary config, train", lambda t, f: ["train", str(f["junk"])], "not a YAML text file"),
    ("binary experiment file, report", lambda t, f: ["report", str(f["junk"])],
     "not a YAML text file"),
    ("gpu without a GPU", lambda t, f: ["train", "train.accelerator=gpu"],
     "train.accelerator: gpu, but this machine has no visible GPU"),
    ("train, paper bins infeasible", lambda t, f: [
        "train", "model.stem=small", "data.image_size=48", "model.bins=paper",
        "model.levels=[3,2,1]"], "bins='paper' cannot make 3×3 bins"),
    ("train, 8 px", lambda t, f: ["train", "data.image_size=8"], "cannot take 8-px inputs"),
    ("train, negative seed", lambda t, f: ["train", "train.seed=-1"],
     "train.seed: Input should be greater than or equal to 0"),
    ("train, corrupt images", lambda t, f: [
        "train", "data.name=imagefolder", f"data.root={f['corrupt']}", "model.stem=small",
        "data.image_size=32"], "is not a readable image"),
    ("alias bomb", lambda t, f: ["ls", exp(t, "description: &a [x, x, x, x, x, x, x, x, x, x]\n"
                                              + "".join(f"d{i}: &{chr(98 + i)} [" + ", ".join(
                                                  [f"*{chr(97 + i)}"] * 10) + "]\n"
                                                  for i in range(7)))],
     "more than 100,000 values (counting YAML aliases expanded)"),
    ("infinite lr", lambda t, f: ["train", "train.lr=.inf"],
     "train.lr: Input should be a finite number"),
    ("infinite weight decay", lambda t, f: ["ls", exp(t, "", **{"epochs: 1": "epochs: 1, "
                                                                "weight_decay: .inf"})],
     "base.train.weight_decay: Input should be a finite number"),
    ("a key without a value", lambda t, f: ["train", "model.head"],
     "model.head: neither a config file nor key=value; to set a key write model.head=VALUE"),
    ("unknown key under base", lambda t, f: ["run", exp(t, "", **{"epochs: 1": "epochs: 1, "
                                                                  "epohcs: 2"})],
     "base.train.epohcs: unknown key; did you mean 'epochs'?"),
]


@pytest.mark.parametrize("make,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_exit_2_and_one_message_fast(tmp_path, folders, make, message):
    """Refused before anything heavy is imported: the CPU time of the command (torch alone
    takes 3-5 s of it to import), which other work on the machine does not inflate."""
    args = make(tmp_path, folders)
    proc, cpu = spp_lab_cpu(*args, cwd=tmp_path, timeout=120,
                            env={"CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert cpu < 2.5, f"{cpu:.1f} s of CPU"
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob(
        "status.json")), "a job ran"


def test_only_takes_list_values(tmp_path):
    path = exp(tmp_path, "grid: {model.levels: [[2, 1], [4, 2, 1]]}")
    proc = spp_lab("ls", path, "--only", "model.levels=[2, 1]", "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"status": "new"' in proc.stdout and proc.stdout.count('"run_id"') == 1


def test_report_of_a_folder_where_no_run_finished_says_so(tmp_path):
    folder = ExperimentFolder(tmp_path / "results" / "x")
    folder.runs_dir.mkdir(parents=True)
    folder.write_spec(ExperimentSpec(name="x", run_ids=["r1"]))
    folder.run("r1").update_status(state="failed", condition="default", seed=0,
                                   error="ValueError: boom")
    proc = spp_lab("report", str(folder.path))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    text = (folder.report_dir / "report.md").read_text()
    assert "No finished run yet (1 runs: 1 failed)" in text


def test_a_ray_address_with_no_cluster_is_one_message(tmp_path):
    pytest.importorskip("ray")
    proc = spp_lab("run", exp(tmp_path), "--executor", "ray", "--address", "127.0.0.1:9",
                   timeout=300, env={"RAY_ADDRESS": ""})  # a hang fails by the timeout
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--address 127.0.0.1:9: no Ray cluster reachable there" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ls_into_a_closed_pipe_is_quiet(tmp_path):
    import subprocess

    from tests.conftest import BIN

    # 4,000 lines: more than a pipe buffer, so the writer meets the closed pipe.
    proc = subprocess.run(f"{BIN / 'spp-lab'} ls -m model.head=spp,global --seeds 0-1999 "
                          "| head -1", shell=True, capture_output=True, text=True, cwd=tmp_path)
    assert proc.stdout.startswith("m-head: 4000 jobs") and "Traceback" not in proc.stderr
