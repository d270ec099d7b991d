"""W&B with no network: offline runs per job and a summary run, grouping read back, resume,
disabled mode, a W&B failure that leaves the job done, and no secret in any file."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, spp_lab, wait_for
from tests.test_runner import experiment, runs

KEY = "0123456789abcdef-not-a-real-key"


@pytest.fixture
def wandb_env(tmp_path):
    return {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wandb-env"),
            "WANDB_API_KEY": KEY, "WANDB_SILENT": "true"}


def offline_runs(exp_dir: Path) -> list[Path]:
    return sorted((exp_dir / "wandb").glob("offline-run-*"))


def with_mode(path: Path, mode: str | None) -> Path:
    data = yaml.safe_load(path.read_text())
    data["base"]["logging"] = {"wandb": {"mode": mode, "tags": ["ci"]}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_offline_runs_grouped_by_experiment_and_condition(tmp_path, wandb_env):
    path = with_mode(experiment(tmp_path, n=64, epochs=1), None)  # None: from WANDB_MODE
    proc = spp_lab("run", str(path), "--workers", "2", env=wandb_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exp_dir = tmp_path / "results" / "g"
    dirs = offline_runs(exp_dir)
    assert len(dirs) == 4 + 1  # one per job, plus the summary run
    assert "W&B summary run: g-report (offline)" in proc.stdout
    for rid, status in runs(tmp_path).items():
        w = status["wandb"]
        assert w["id"] == f"g-{rid}" and w["group"] == "g" and w["mode"] == "offline"
        assert w["job_type"] == status["condition"]
        assert status["condition"] in w["tags"] and "ci" in w["tags"]
        assert ("levels=2-1" in w["tags"]) == (status["condition"] == "SPP")
        cfg = w["config"]  # read back from the W&B run object at the end of the job
        assert cfg["run_id"] == rid and cfg["config_hash"] == rid and cfg["experiment"] == "g"
        assert cfg["model.head"] == ("pool" if status["condition"] == "no SPP" else "spp")
        assert cfg["experiment_file"] == str(path) and "git_commit" in cfg
        assert w["config_keys"] > 40  # the full flattened run config
        assert Path(w["dir"]).is_relative_to(tmp_path / "results" / "g" / "wandb")
    assert not (tmp_path / "wandb-env").exists() or not any((tmp_path / "wandb-env").rglob(
        "offline-run-*"))  # W&B files live under the results folder
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaked == []


def test_disabled_mode_writes_no_wandb_files(tmp_path, wandb_env):
    path = with_mode(experiment(tmp_path, n=64, epochs=1), "disabled")
    assert spp_lab("run", str(path), "--only", "model.arch=zf5,condition=SPP", env=wandb_env,
                   cwd=tmp_path).returncode == 0
    assert (tmp_path / "results" / "g" / "runs").is_dir()
    made = [p for p in tmp_path.rglob("*") if p.name == "wandb" or "offline-run" in p.name]
    assert made == []


def test_wandb_failure_leaves_the_job_done(tmp_path, wandb_env):
    path = with_mode(experiment(tmp_path, n=64, epochs=1), "offline")
    (tmp_path / "results" / "g").mkdir(parents=True)
    (tmp_path / "results" / "g" / "wandb").write_text("a file where W&B wants a folder")
    proc = spp_lab("run", str(path), "--workers", "2", "--only", "model.arch=zf5",
                   env=wandb_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = runs(tmp_path)
    assert len(status) == 2 and all(s["state"] == "done" for s in status.values())
    for rid in status:
        run = tmp_path / "results" / "g" / "runs" / rid
        assert json.loads((run / "metrics.json").read_text())["final"]["val_top1_err"] >= 0
        assert "W&B disabled for this run" in (run / "log.txt").read_text()


def test_resumed_job_continues_its_wandb_run(tmp_path, wandb_env):
    path = with_mode(experiment(tmp_path, n=256, epochs=4), "offline")
    zf5 = ["--only", "model.arch=zf5"]  # two jobs, one per worker
    proc = subprocess.Popen([str(BIN / "spp-lab"), "run", str(path), "--workers", "2", *zf5],
                            cwd=tmp_path, env={**__import__("os").environ, **wandb_env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = tmp_path / "results" / "g" / "runs"
    assert wait_for(lambda: root.exists() and any(root.glob("*/history.csv")))
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    interrupted = [rid for rid, s in runs(tmp_path).items() if s["state"] == "interrupted"]
    assert interrupted
    assert spp_lab("run", str(path), "--workers", "2", *zf5, env=wandb_env,
                   cwd=tmp_path).returncode == 0
    dirs = offline_runs(tmp_path / "results" / "g")
    for rid in interrupted:
        mine = [d for d in dirs if d.name.endswith(f"-g-{rid}")]
        assert len(mine) == 2  # the first attempt and the resumed one: one W&B run id
        assert runs(tmp_path)[rid]["wandb"]["id"] == f"g-{rid}"


def test_force_rerun_replaces_its_offline_run_and_the_warning_names_the_folder(tmp_path,
                                                                                wandb_env):
    path = with_mode(experiment(tmp_path, n=64, epochs=1, seeds="[0]"), None)
    env = {**wandb_env, "WANDB_MODE": "online", "WANDB_API_KEY": "",
           "NETRC": str(tmp_path / "no-netrc")}
    exp_dir = tmp_path / "results" / "g"
    first = spp_lab("run", str(path), "--only", "condition=SPP,model.arch=zf5", env=env,
                    cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Upload later with: spp-lab sync {exp_dir}" in first.stderr  # a real path
    (rid,) = runs(tmp_path)
    mine = lambda: [d for d in offline_runs(exp_dir) if d.name.endswith(f"-g-{rid}")]  # noqa
    assert len(mine()) == 1
    again = spp_lab("run", str(path), "--only", "condition=SPP,model.arch=zf5", "--force",
                    env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(mine()) == 1  # the earlier offline run is gone: sync uploads one
    assert not (exp_dir / "wandb" / "wandb").exists()  # not nested
