"""Faults a grid must survive: a killed runner resumes, nothing corrupt is trusted or
crashes, diverged runs are not results, a full or read-only disk stops cleanly."""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import BIN, spp_lab, wait_for

FAULTS = """
name: f
base:
  output_dir: {out}
  model: {{stem: small, width: 0.125, batchnorm: true, fc_dim: 64, levels: [2, 1],
           dropout: 0.2}}
  data: {{image_size: 32, num_train: {n}, num_val: 64, batch_size: 32}}
  train: {{epochs: {epochs}, optimizer: adamw, lr: {lr}, threads: 1}}
grid: {{model.arch: [zf5]}}
conditions:
  SPP: {{model.head: spp}}
{extra}
seeds: {seeds}
workers: 1
"""


def experiment(tmp_path: Path, name="f", n=256, epochs=2, lr=0.003, seeds="[0]", extra="",
               out: Path | None = None) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(FAULTS.format(
        out=out or tmp_path / "results", n=n, epochs=epochs, lr=lr, seeds=seeds,
        extra=extra)).replace("name: f", f"name: {name}"))
    return path


def run_folders(out: Path, name="f") -> list[Path]:
    root = out / name / "runs"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def history(run: Path) -> list[str]:
    return (run / "history.csv").read_text().splitlines()


# -- resume --------------------------------------------------------------------------------

def test_fault_drill_sigkill_after_epoch_2_of_6_resumes_at_epoch_3(tmp_path):
    """The runner is SIGKILLed after epoch 2 of 6; the rerun resumes at epoch 3 with the
    first two history rows byte-identical (their wall times included), trains only the
    remaining 4 epochs, and ends with the numbers of an uninterrupted run."""
    path = experiment(tmp_path, n=1024, epochs=6)  # epochs long enough to kill between
    out = tmp_path / "results"
    proc = subprocess.Popen([str(BIN / "spp-lab"), "run", str(path)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: out.exists() and any(
        len(history(r)) >= 3 for r in run_folders(out) if (r / "history.csv").exists()))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (run,) = run_folders(out)
    assert wait_for(lambda: json.loads((run / "status.json").read_text())["state"]
                    == "interrupted", 120)  # the orphaned job stopped itself
    kept = history(run)[:3]  # header + epochs 1 and 2
    again = spp_lab("run", str(path), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = history(run)
    assert rows[:3] == kept and len(rows) == 7
    log = (run / "log.txt").read_text()
    assert log.count("== attempt") == 2 and "== resuming from" in log
    resumed = log[log.rindex("== attempt"):]
    assert "resuming from" in resumed
    # The resumed attempt trained the 4 remaining epochs, not 6 with the first 2 rows kept:
    # counted in batches (CPU or wall time would depend on what else the machine runs).
    full = experiment(tmp_path, name="full", n=1024, epochs=6, out=tmp_path / "full")
    assert spp_lab("run", str(full), cwd=tmp_path).returncode == 0
    (ref,) = run_folders(tmp_path / "full", "full")
    trained = lambda r: json.loads((r / "metrics.json").read_text())["this_attempt"]  # noqa: E731
    assert trained(ref) == {"epochs": 6, "batches": 6 * 1024 // 32}
    assert trained(run) == {"epochs": 4, "batches": 4 * 1024 // 32}
    # Resuming restores weights, optimizer, schedule, RNG and batch order: same numbers.
    numbers = lambda r: [row.split(",")[:8] for row in history(r)]  # noqa: E731
    assert numbers(run) == numbers(ref)


# -- corrupt files ---------------------------------------------------------------------------

DAMAGES = [  # (file, new content, what ls and run say about it)
    ("metrics.json", "truncate", "metrics.json: not valid JSON"),
    ("metrics.json", "binary", "metrics.json: not valid JSON"),
    ("status.json", "binary", "status.json: not valid JSON"),
    ("status.json", "text", "status.json: not valid JSON"),
    ("history.csv", "text", "history.csv: header is not"),
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """One finished experiment of len(DAMAGES) + 1 runs, copied for each test that damages
    it."""
    tmp = tmp_path_factory.mktemp("finished")
    path = experiment(tmp, n=64, seeds=str(list(range(len(DAMAGES) + 1))))
    proc = spp_lab("run", str(path), "--workers", "2", cwd=tmp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp, path


def copy_of(finished, tmp_path) -> tuple[Path, list[Path]]:
    src, path = finished
    shutil.copytree(src / "results", tmp_path / "results")
    text = path.read_text().replace(str(src / "results"), str(tmp_path / "results"))
    (tmp_path / "f.yaml").write_text(text)
    return tmp_path / "f.yaml", run_folders(tmp_path / "results")


def test_corrupt_files_are_named_never_trusted_and_their_jobs_rerun(finished, tmp_path):
    """Truncated or binary metrics, binary or garbage status, a garbage history: ls and
    report name each file and do not crash; run reruns exactly those jobs; the intact run
    is left as it was."""
    path, runs = copy_of(finished, tmp_path)
    *bad, good = runs
    for run, (file, damage, _) in zip(bad, DAMAGES):
        content = (run / file).read_bytes()
        (run / file).write_bytes({"truncate": content[: len(content) // 2],
                                  "binary": bytes(range(256)) * 4,
                                  "text": b"this is not what spp-lab wrote\n"}[damage])
    good_metrics = (good / "metrics.json").read_text()
    ls = spp_lab("ls", str(path))
    assert ls.returncode == 0 and "Traceback" not in ls.stderr
    for run, (_, _, why) in zip(bad, DAMAGES):
        line = next(x for x in ls.stdout.splitlines() if run.name in x)
        assert "corrupt" in line and why in line, line
    report = spp_lab("report", str(tmp_path / "results" / "f"))
    assert report.returncode == 0 and "Traceback" not in report.stderr
    assert f"{len(DAMAGES)} corrupt" in (tmp_path / "results/f/report/report.md").read_text()
    again = spp_lab("run", str(path), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    for run, (_, _, why) in zip(bad, DAMAGES):
        assert why in next(x for x in again.stdout.splitlines() if f"rerun {run.name}" in x)
        assert json.loads((run / "status.json").read_text())["state"] == "done"
        assert json.loads((run / "metrics.json").read_text())["final"]["val_top1_err"] >= 0
    assert f"{len(DAMAGES)} done" in again.stdout
    assert (good / "metrics.json").read_text() == good_metrics  # the other run untouched


def test_an_unusable_checkpoint_is_set_aside_and_never_runs(finished, tmp_path):
    """A results folder someone hands you: one interrupted run's last.ckpt is truncated,
    another's is a pickle whose loading would run a command. Both are set aside as
    `last.ckpt.corrupt` and their jobs train from scratch; the command never runs."""
    path, (truncated, planted, *_) = copy_of(finished, tmp_path)
    ckpt = truncated / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (planted / "checkpoints" / "last.ckpt").write_bytes(pickle.dumps({"epoch": Payload()}))
    for run in (truncated, planted):
        (run / "metrics.json").unlink()
        status = json.loads((run / "status.json").read_text())
        (run / "status.json").write_text(json.dumps(status | {"state": "interrupted"}))
    again = spp_lab("run", str(path), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not marker.exists()
    for run in (truncated, planted):
        assert (run / "checkpoints" / "last.ckpt.corrupt").exists()
        assert "not a usable checkpoint" in (run / "log.txt").read_text()
        assert len(history(run)) == 3  # header + 2 epochs from scratch, not appended
        assert json.loads((run / "status.json").read_text())["state"] == "done"
    assert "2 done" in again.stdout


# -- divergence --------------------------------------------------------------------------------

def test_a_run_whose_loss_becomes_non_finite_is_diverged_not_a_result(tmp_path):
    path = experiment(tmp_path, n=128, epochs=3, lr=100000.0, extra=textwrap.dedent("""
        conditions:
          sane: {train.lr: 0.003}
          wild: {}
        """).replace("conditions:\n", ""))
    text = path.read_text().replace("  SPP: {model.head: spp}\n", "")
    path.write_text(text)
    proc = spp_lab("run", str(path), cwd=tmp_path)
    assert proc.returncode == 1
    assert "1 done, 0 failed, 1 diverged" in proc.stdout and "non-finite" in proc.stdout
    st = {r.name: json.loads((r / "status.json").read_text())
          for r in run_folders(tmp_path / "results")}
    wild = next(s for s in st.values() if s["condition"] == "wild")
    assert wild["state"] == "diverged" and wild["attempts"] == 1  # not retried
    assert "diverged" in spp_lab("ls", str(path)).stdout
    with open(tmp_path / "results/f/runs.csv") as f:
        rows = {r["condition"]: r for r in csv.DictReader(f)}
    assert rows["wild"]["status"] == "diverged" and rows["wild"]["finished"] == "False"
    report = (tmp_path / "results/f/report/report.md").read_text()
    assert "1 diverged" in report and "wild" not in report.split("## ")[1]


# -- full and read-only disks ------------------------------------------------------------------

def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"mounting a small tmpfs needs root ({err}); the disk tests need a "
                    "real full or read-only file system")


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "disk"
    _mount_tmpfs(where, "2200k")  # one run (two 0.75 MB checkpoints at its peak), not two
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_stops_the_grid_with_one_message_and_a_rerun_completes(tmp_path,
                                                                          small_disk):
    path = experiment(tmp_path, n=64, seeds="[0, 1, 2, 3, 4, 5]", out=small_disk)
    proc = spp_lab("run", str(path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert "No space left on device" in proc.stderr and "run again" in proc.stderr
    done = {r.name: (r / "metrics.json").read_text() for r in run_folders(small_disk)
            if (r / "metrics.json").exists()}
    assert done, "some runs finished before the disk filled"
    assert not list(small_disk.rglob("*.tmp"))  # no half-written files left
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = spp_lab("run", str(path), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    states = {json.loads((r / "status.json").read_text())["state"]
              for r in run_folders(small_disk)}
    assert states == {"done"}
    for rid, text in done.items():  # finished before the fault: kept as they were
        assert (small_disk / "f/runs" / rid / "metrics.json").read_text() == text


def test_a_read_only_results_folder_gives_one_message(finished, tmp_path):
    path, _ = copy_of(finished, tmp_path)
    ro = tmp_path / "ro"
    _mount_tmpfs(ro, "64m")
    try:
        shutil.copytree(tmp_path / "results", ro / "results")
        (tmp_path / "f.yaml").write_text(path.read_text().replace(
            str(tmp_path / "results"), str(ro / "results")))
        for run in run_folders(ro / "results"):
            (run / "metrics.json").unlink()  # something left to do
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        for cmd in (["run", str(path)], ["report", str(ro / "results" / "f")]):
            proc = spp_lab(*cmd, cwd=tmp_path)
            assert proc.returncode == 1, proc.stdout + proc.stderr
            assert "Read-only file system" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
