"""The seams: imports only run downward, and commands that do not train never load torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PKG = ROOT / "spp_lab"
# Lower layers must not import the upper ones (runner writes results, report reads them).
FORBIDDEN = {
    "report": ("spp_lab.runner", "spp_lab.commands", "spp_lab.cli", "spp_lab.train"),
    "runfolder.py": ("spp_lab.runner", "spp_lab.report", "spp_lab.train"),
    "fileio.py": ("spp_lab.",),  # the bottom layer: safe files, nothing of the project
    "layers": ("spp_lab.models", "spp_lab.runner", "spp_lab.report", "spp_lab.config"),
    "models": ("spp_lab.runner", "spp_lab.report", "spp_lab.config", "spp_lab.train"),
    "config.py": ("spp_lab.runner", "spp_lab.report", "spp_lab.train", "spp_lab.module"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_no_import_runs_back_up():
    bad = []
    for where, banned in FORBIDDEN.items():
        files = [PKG / where] if where.endswith(".py") else sorted((PKG / where).rglob("*.py"))
        for f in files:
            bad += [f"{f.relative_to(ROOT)} imports {m}" for m in _imports(f)
                    if m.startswith(banned)]
    assert bad == []


def test_commands_that_do_not_train_never_import_torch(tmp_path):
    code = f"""
import sys

import pytest
from spp_lab.cli import main
for argv in (["ls", "{ROOT / 'experiments.yaml'}"], ["ls", "{ROOT / 'experiments.yaml'}",
             "--json"], ["report", "--paper", "--output-dir", "{tmp_path}"],
             ["export-sweep", "{ROOT / 'experiments.yaml'}", "-o", "{tmp_path / 's.yaml'}"]):
    assert main(argv) == 0, argv
import spp_lab, spp_lab.api, spp_lab.config, spp_lab.models, spp_lab.layers.choices
assert "torch" not in sys.modules, "torch imported"
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_registries_refuse_a_second_name_and_list_the_valid_ones():
    from spp_lab.models import register_model
    from spp_lab.runner.executors import get_executor, register_executor

    with pytest.raises(ValueError, match="model 'zf5' is already registered"):
        register_model("zf5", options=(), map_size=lambda stem, s: s)(lambda: None)
    with pytest.raises(ValueError, match="executor 'ray' is already registered"):
        register_executor("ray")(object)
    with pytest.raises(ValueError, match="unknown executor 'sge'; valid executors: local, "
                       "ray, slurm"):
        get_executor("sge")
