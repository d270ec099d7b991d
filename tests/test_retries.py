"""Retries are counted and bounded in every executor: a job that fails every attempt runs
``retries + 1`` times and is then ``failed`` with its reason, on the local executor, on the
submit-and-poll loop that Ray and Slurm share (through the toy executor), and through the
Python API, which runs a file exactly as ``spp-lab run`` does (the file's ``retries``
included)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, spp_lab

EXPERIMENT = """\
name: flaky
base:
  output_dir: results
  model: {width: 0.125, fc_dim: 32, levels: [2, 1]}
  data: {image_size: 32, num_train: 64, num_val: 32, batch_size: 32}
  train: {epochs: 1, checkpoint: false, threads: 1}
conditions:
  broken: {data.name: broken}
  works: {}
seeds: [0]
retries: 2
report: {baseline: works}
"""


@pytest.fixture(scope="module")
def plug(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    for name in ("broken_data", "toy_executor"):
        shutil.copy(ROOT / "tests/plugins" / f"{name}.py", folder)
    return {"SPP_LAB_PLUGINS": "broken_data,toy_executor",
            "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}


def _states(folder: Path) -> dict[str, tuple[str, int, str | None]]:
    """condition → (state, attempts, error) of each run folder."""
    out = {}
    for run in (folder / "runs").iterdir():
        st = json.loads((run / "status.json").read_text())
        out[st["condition"]] = (st["state"], st["attempts"], st.get("error"))
    return out


def _check(folder: Path, text: str) -> None:
    states = _states(folder)
    assert states["works"][:2] == ("done", 1)
    assert states["broken"] == ("failed", 3, "RuntimeError: the broken toy dataset failed "
                                "to load")
    broken = next(r for r in (folder / "runs").iterdir()
                  if json.loads((r / "status.json").read_text())["condition"] == "broken")
    assert (broken / "log.txt").read_text().count("== attempt") == 3
    assert "failed, retry 1/2" in text and "failed, retry 2/2" in text
    assert "failed, retry 3/2" not in text


def _run(folder: Path, plug: dict, *flags: str) -> subprocess.CompletedProcess:
    # a loop that never counts up would retry forever: the timeout turns that into a failure
    proc = spp_lab("run", "flaky.yaml", *flags, cwd=folder, env=plug, timeout=240)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "flaky: 1 done, 1 failed, 0 diverged, 0 skipped, 0 interrupted" in proc.stdout
    _check(folder / "results/flaky", proc.stdout)
    again = spp_lab("run", "flaky.yaml", "--dry-run", cwd=folder, env=plug)
    assert "0 to run · 2 skipped (1 failed or diverged: --retry-failed reruns them)" \
        in again.stdout
    listed = spp_lab("ls", "flaky.yaml", cwd=folder, env=plug).stdout
    assert "failed      broken" in listed and "the broken toy dataset failed to load" in listed
    retry = spp_lab("run", "flaky.yaml", "--dry-run", "--retry-failed", cwd=folder, env=plug)
    assert "1 to run · 1 skipped" in retry.stdout
    return proc


def test_the_loop_ray_and_slurm_share_bounds_retries(plug, tmp_path):
    (tmp_path / "flaky.yaml").write_text(EXPERIMENT)
    _run(tmp_path, plug, "--executor", "toy")


def test_the_api_runs_a_file_as_the_command_does(plug, tmp_path):
    """Same file, same options, same failing job (on the local executor): the same
    states, attempts and reasons, and the rows the API returns are ``ls``'s jobs."""
    cli, api = tmp_path / "cli", tmp_path / "api"
    for folder in (cli, api):
        folder.mkdir()
        (folder / "flaky.yaml").write_text(EXPERIMENT)
    _run(cli, plug, "--workers", "1")
    script = ("import spp_lab\n"
              "runs = spp_lab.run_experiment('flaky.yaml', workers=1)\n"
              "print('ROWS', runs[['run_id', 'condition', 'status', 'attempts']]"
              ".to_json(orient='records'))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=api, capture_output=True,
                         text=True, timeout=240, env={**os.environ, **plug})
    assert out.returncode == 0, out.stderr[-2000:]
    assert _states(cli / "results/flaky") == _states(api / "results/flaky")
    _check(api / "results/flaky", out.stdout)
    rows = json.loads(out.stdout.split("ROWS ", 1)[1])
    jobs = json.loads(spp_lab("ls", "flaky.yaml", "--json", cwd=cli, env=plug).stdout)["jobs"]
    assert sorted((r["run_id"], r["condition"], r["status"]) for r in rows) == \
        sorted((j["run_id"], j["condition"], j["status"]) for j in jobs)
    assert {r["condition"]: r["attempts"] for r in rows} == {"broken": 3, "works": 1}
    for name in ("report/report.md", "runs.csv"):  # both published the report
        assert (api / "results/flaky" / name).exists() and (cli / "results/flaky" / name).exists()
