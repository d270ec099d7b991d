"""W&B with no network: offline runs per job and a summary run, grouping read back, resume,
disabled mode, a W&B failure that leaves the job done, and no secret in any file."""

from __future__ import annotations

import json
import signal
import subprocess
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


def _records(path: Path):
    """The records of a ``.wandb`` transaction log, parsed with wandb's own protobuf
    (``wandb_internal_pb2.Record``); the framing is LevelDB's log format (32 KiB blocks,
    7-byte record headers) after wandb's 7-byte file header. wandb 0.31 has no Python
    reader of its own."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B transaction log"
    block, head, pos, buf = 32768, 7, 7, b""
    while pos + head <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + head])
        if left < head or (kind == 0 and length == 0):  # the rest of a block: padding
            pos += left
            continue
        chunk = data[pos + head:pos + head + length]
        pos += head + length
        buf = chunk if kind in (1, 2) else buf + chunk  # FULL, FIRST; MIDDLE, LAST
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(buf)
            yield rec


def history(run_dir: Path) -> list[dict]:
    """The history rows of an offline run, as W&B replays them on sync."""
    return [{(i.key or "/".join(i.nested_key)): json.loads(i.value_json)
             for i in rec.history.item}
            for f in run_dir.glob("*.wandb") for rec in _records(f)
            if rec.WhichOneof("record_type") == "history"]


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
        (mine,) = [d for d in dirs if d.name.endswith(f"-g-{rid}")]
        recs = [rec for f in mine.glob("*.wandb") for rec in _records(f)]
        updates = [i for rec in recs if rec.WhichOneof("record_type") in ("run", "config")
                   for i in (rec.run.config.update if rec.WhichOneof("record_type") == "run"
                             else rec.config.update)]
        keys = {i.key or "/".join(i.nested_key) for i in updates}
        assert "model.head" in keys and "data.num_train" in keys
        assert not keys & {"model", "data", "train", "logging"}  # no nested copies
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
    # stop once a job has a checkpoint to resume from (an epoch logged and saved)
    assert wait_for(lambda: root.exists() and any(root.glob("*/checkpoints/last.ckpt")))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    interrupted = [rid for rid, s in runs(tmp_path).items() if s["state"] == "interrupted"]
    assert interrupted
    assert spp_lab("run", str(path), "--workers", "2", *zf5, env=wandb_env,
                   cwd=tmp_path).returncode == 0
    dirs = offline_runs(tmp_path / "results" / "g")
    resumed = []
    for rid in interrupted:
        mine = sorted(d for d in dirs if d.name.endswith(f"-g-{rid}"))
        assert len(mine) == 2  # the first attempt and the resumed one: one W&B run id
        assert runs(tmp_path)[rid]["wandb"]["id"] == f"g-{rid}"
        log = (root / rid / "log.txt").read_text()
        if "== resuming from" in log:
            resumed.append(rid)
        # Read back as W&B will replay them on sync: every epoch of history.csv once (a
        # job stopped before its first checkpoint starts over), at steps that keep rising
        # from the first attempt into the resumed one.
        first, second = ([r for r in history(d) if "val/top1_err" in r] for d in mine)
        if rid in resumed:
            assert first, "the interrupted attempt's epochs were not flushed"
            rows = first + second
        else:
            rows = second
        assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
        steps = [r["_step"] for r in rows]
        assert steps == sorted(steps) and len(set(steps)) == 4
        assert all(r["_step"] == r["trainer/global_step"] for r in rows)
    assert resumed  # at least one job continued from its checkpoint


# history.csv's columns under the names W&B shows them (the rest: "val_loss" is "val/loss")
W_KEYS = {"train_loss": "train/loss_epoch", "lr": "lr", "train_img_per_s": "train/img_per_s",
          "epoch_time_s": "train/epoch_time_s", "train_size": "train/size"}


def test_wandb_holds_every_history_column_at_its_epoch(tmp_path, wandb_env):
    """Read back from the offline files, each job's W&B run has every column of its
    history.csv at that epoch, the same numbers, and its test metrics at the last epoch,
    a test view's under its own name (test_24/); no log has a W&B step warning
    (Lightning logs an epoch's training metrics at a step below its validation metrics',
    which W&B drops)."""
    path = with_mode(experiment(tmp_path, n=96, epochs=3, extra=""), "offline")
    data = yaml.safe_load(path.read_text())
    data["base"]["data"]["num_test"], data["grid"]["model.arch"] = 32, ["zf5"]
    data["base"]["data"]["test_views"] = [24]
    path.write_text(yaml.safe_dump(data))
    proc = spp_lab("run", str(path), "--no-report", env=wandb_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    root = tmp_path / "results" / "g"
    for rid in runs(tmp_path):
        (d,) = [d for d in offline_runs(root) if d.name.endswith(f"-g-{rid}")]
        by_epoch: dict[int, dict] = {}
        for r in history(d):
            if "epoch" in r:
                by_epoch.setdefault(r["epoch"], {}).update(r)
        csv_rows = list(__import__("csv").DictReader(open(root / "runs" / rid / "history.csv")))
        assert len(csv_rows) == 3
        for row in csv_rows:
            got = by_epoch[int(row["epoch"])]
            for col, value in row.items():
                if col == "epoch" or value == "":
                    continue
                key = W_KEYS.get(col, col.replace("_", "/", 1))
                assert got.get(key) == pytest.approx(float(value)), (rid, row["epoch"], col)
        test = json.loads((root / "runs" / rid / "metrics.json").read_text())["test"]
        assert by_epoch[3]["test/top1_err"] == pytest.approx(test["test_top1_err"])
        if test["test_24_top1_err"] is not None:  # the SPP head takes 24-px crops
            assert by_epoch[3]["test_24/top1_err"] == pytest.approx(test["test_24_top1_err"])
            assert by_epoch[3]["test_24/loss"] == pytest.approx(test["test_24_loss"])
        else:
            assert not any(k.startswith("test_24") for k in by_epoch[3])
        assert "Tried to log to step" not in (root / "runs" / rid / "log.txt").read_text()


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


def test_sync_skips_offline_runs_with_nothing_logged(tmp_path, capsys):
    from spp_lab.errors import UserError
    from spp_lab.results import ExperimentFolder
    from spp_lab.tracking import sync_offline

    folder = ExperimentFolder(tmp_path / "g")
    empty = folder.wandb_dir / "offline-run-20261203_000000-g-abc"
    empty.mkdir(parents=True)
    (empty / "run-g-abc.wandb").write_bytes(b":W&B\xe1\xbe\x00")  # the header alone
    with pytest.raises(UserError, match="no offline W&B runs with data under"):
        sync_offline(folder)
    assert "skipping 1 offline runs with nothing logged" in capsys.readouterr().out
