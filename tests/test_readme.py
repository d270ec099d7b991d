"""Every command of README.md runs as written: each line of its ``sh`` blocks and each of its
Python blocks, in a folder holding the repository's experiment files and a real image
folder. A command that would train runs with ``--smoke`` (seconds), one that would run a
grid with ``--dry-run``; the only other edits are the placeholders (``DIR``, ``<run_id>``)
and the smoke results folder's name. ``make run`` and ``make test`` are what CI runs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, spp_lab, write_digits

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
SH = [re.split(r"\s#\s", line)[0].strip() for lang, body in BLOCKS if lang == "sh"
      for line in body.splitlines() if line.strip()]
PY = [body for lang, body in BLOCKS if lang == "python"]
SMOKE = "results/table2-mini-smoke"


def test_the_readme_is_a_users_document():
    assert len(README.splitlines()) <= 160
    assert SH[:2] == ["make run", "make test"]  # the quick start: two commands
    assert not re.search(r"this (round|session|turn)|last (round|session)|was (not )?lent",
                         README)
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        assert (ROOT / link).exists(), link
    # Each subcommand named in the prose is a real one.
    from spp_lab.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in re.findall(r"`spp-lab (\w[\w-]*)", README) + re.findall(
            r"`(check-data|export|sync|report|ls|run|train|export-sweep)`", README):
        assert name in sub.choices or name == "COMMAND", name


def test_the_one_result_is_the_published_report():
    """The README's table is the table of the report it links, cell for cell."""
    table = (ROOT / "docs/results/table2-mini/table_test_top1_err.md").read_text().strip()
    assert table in README
    assert "docs/results/table2-mini/report.md" in README


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A user's folder: the experiment files, an image folder, ResNet-50 weights where
    torchvision caches them (its own random init, as a download would name it), and the
    smoke results of two jobs of the default experiment (for the commands that read
    results)."""
    import torch
    import torchvision

    home = tmp_path_factory.mktemp("home")
    hub = home / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(torchvision.models.resnet50().state_dict(), hub / "resnet50-11ad3fa6.pth")
    shutil.copy(ROOT / "experiments.yaml", home)
    shutil.copytree(ROOT / "ablations", home / "ablations")
    write_digits(home / "digits", per_class=12, classes=(1, 4, 7))
    proc = spp_lab("run", "experiments.yaml", "--smoke", "--no-report", "--only",
                   "model.arch=zf5,condition=no SPP,seed=0", "--only",
                   "model.arch=zf5,condition=SPP single-size,seed=0", cwd=home)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    return home


def _as_run(line: str) -> list[str]:
    args = shlex.split(line)[1:]
    args = [a.replace("DIR", "digits") for a in args]
    args = [a.replace("results/table2-mini", SMOKE) for a in args]
    if args[0] == "train" and not {"--help", "--print-config"} & set(args):
        args.append("--smoke")
    if args[0] == "run" and "--dry-run" not in args:
        args.append("--smoke")
    return args


@pytest.mark.parametrize("line", [c for c in SH if c.startswith("spp-lab ")])
def test_each_readme_command_runs(line, home):
    args = _as_run(line)
    proc = spp_lab(*args, cwd=home, timeout=600, env={"TORCH_HOME": str(home / "torch")})
    assert proc.returncode == 0, f"{line}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
    assert "Traceback" not in proc.stderr


def test_every_sh_line_is_a_command_this_test_runs():
    assert all(c.startswith(("spp-lab ", "make ")) for c in SH), SH
    assert sum(c.startswith("spp-lab ") for c in SH) >= 12
    assert "spp-lab export-sweep experiments.yaml -o sweep.yaml" in SH  # comments cut off


def test_the_readme_python_runs(home):
    run_id = next((home / SMOKE / "runs").iterdir()).name
    for body in PY:
        code = body.replace('workers=2)', 'workers=2, smoke=True)')
        code = code.replace("results/table2-mini", SMOKE).replace("<run_id>", run_id)
        proc = subprocess.run([sys.executable, "-c", code], cwd=home, capture_output=True,
                              text=True, timeout=600, env={**os.environ})
        assert proc.returncode == 0, f"{body}\n{proc.stderr[-2000:]}"
