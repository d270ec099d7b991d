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
    "results": ("spp_lab.runner", "spp_lab.report", "spp_lab.train"),
    "fileio.py": ("spp_lab.",),  # the bottom layer: safe files, nothing of the project
    "layers": ("spp_lab.models", "spp_lab.runner", "spp_lab.report", "spp_lab.config"),
    "models": ("spp_lab.runner", "spp_lab.report", "spp_lab.config", "spp_lab.train"),
    "config.py": ("spp_lab.runner", "spp_lab.report", "spp_lab.train", "spp_lab.module"),
    # the two faces share what lies below them and never import each other
    "api.py": ("spp_lab.commands", "spp_lab.cli"),
    "commands": ("spp_lab.api",),
    "cli.py": ("spp_lab.api",),
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


def _graph() -> dict[str, set[str]]:
    """Module → the package modules it imports (at the top or inside a function)."""
    mods = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {}
    for name, f in mods.items():
        out = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods
                        else node.module for a in node.names} & mods.keys()
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names} & mods.keys()
        graph[name] = out - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = _graph()
    assert len(graph) > 60 and "spp_lab.runner.study" in graph["spp_lab.commands.grid"]
    assert _cycles(graph) == []


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


def test_listing_commands_load_nothing_heavy(tmp_path):
    """``ls``, ``run --dry-run``, ``--help`` and ``models`` (once the backbone catalog is
    cached) load no torch, scipy, pandas, matplotlib or timm; ``ls`` of the default
    experiment takes under a second of CPU (0.4 s on a 2-core x86_64 machine, 2026-12-05;
    the t quantile's scipy once made it 1.3-1.9 s)."""
    code = f"""
import sys
from spp_lab.cli import main
exp = "{ROOT / 'experiments.yaml'}"
for argv in (["ls", exp], ["run", exp, "--dry-run"], ["models", "resnet"],
             ["ls", "-m", "model.arch=resnet50,timm/resnet18d", "model.head=spp,global"]):
    assert main(argv) == 0, argv
for argv in (["--help"], ["train", "--help"]):
    try:
        main(argv)
    except SystemExit as done:
        assert done.code == 0
heavy = [m for m in ("torch", "scipy", "pandas", "matplotlib", "timm") if m in sys.modules]
assert not heavy, heavy
"""
    from spp_lab.models import catalog

    catalog.facts("resnet50"), catalog.facts("timm/resnet18d")  # the catalog cached
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from tests.conftest import spp_lab_cpu

    proc, cpu = spp_lab_cpu("ls", str(ROOT / "experiments.yaml"), cwd=tmp_path)
    assert proc.returncode == 0 and cpu < 1.0, f"{cpu:.2f} s of CPU"


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


def test_results_file_names_are_known_only_to_the_results_folders_module():
    """Every path inside an experiment folder comes from spp_lab/results/folders.py's attributes
    (``job folder.log``, ``folder.slurm``, ...): no other module joins one of its names to a
    path or spells a file name of it."""
    contract = ROOT / "spp_lab/results/folders.py"
    names = {node.args[-1].value for node in ast.walk(ast.parse(contract.read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_In"}
    assert {"log.txt", "runs", "slurm", "experiment.yaml", ".lock"} <= names
    bad = []
    for f in sorted(PKG.rglob("*.py")):
        if f == contract:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            joined = (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
                      and isinstance(node.right, ast.Constant) and node.right.value in names)
            spelt = (isinstance(node, ast.Constant) and isinstance(node.value, str)
                     and "." in node.value and node.value in names)
            if joined or spelt:
                bad.append(f"{f.relative_to(ROOT)}:{node.lineno}")
    assert bad == []
