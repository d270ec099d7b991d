"""The runner with real jobs: resume, failures, retries, signals, locks, GPU ids, Ray."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, spp_lab, wait_for

EXP = """
name: {name}
base:
  output_dir: {out}
  model: {{stem: small, width: 0.125, batchnorm: true, fc_dim: 64, levels: [2, 1]}}
  data: {{image_size: 32, num_train: {n}, num_val: 32, batch_size: 32}}
  train: {{epochs: {epochs}, optimizer: adamw, lr: 0.003}}
grid:
  model.arch: [zf5, overfeat5]
conditions:
  no SPP: {{model.head: pool, model.pool5_bins: 2}}
  SPP: {{model.head: spp}}
{extra}
seeds: {seeds}
retries: 1
"""


def experiment(tmp_path: Path, name="g", n=64, epochs=2, seeds="[0]", extra="") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(EXP.format(name=name, out=tmp_path / "results", n=n,
                                               epochs=epochs, seeds=seeds, extra=extra)))
    return path


def runs(tmp_path: Path, name="g") -> dict[str, dict]:
    root = tmp_path / "results" / name / "runs"
    return {d.name: json.loads((d / "status.json").read_text()) for d in root.iterdir()
            if (d / "status.json").exists()}


def ls(path: Path) -> dict:
    return json.loads(spp_lab("ls", str(path), "--json").stdout)


def kill_first_attempts(tmp_path: Path, name: str = "g", count: int = 1) -> threading.Thread:
    """SIGKILL the first ``count`` jobs seen training their first attempt (the event: its
    status says running and its first step is written), as the kernel's OOM killer would:
    the job dies without writing a status. A job already gone when the signal is sent is
    not counted; the next one is taken instead."""
    root = tmp_path / "results" / name / "runs"

    def watch() -> None:
        killed: set[str] = set()
        while len(killed) < count:
            for rid, st in (runs(tmp_path, name) if root.exists() else {}).items():
                if (st.get("state") != "running" or st.get("attempts") != 1 or rid in killed
                        or not (root / rid / "first_step.json").exists()):
                    continue
                try:
                    os.kill(st["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it ended before the signal: not a kill
                killed.add(rid)
                if len(killed) == count:  # two jobs can start together: kill count only
                    break
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_killed_job_is_retried_and_a_rerun_skips_done_jobs(tmp_path):
    path = experiment(tmp_path, n=64)
    watcher = kill_first_attempts(tmp_path)
    proc = spp_lab("run", str(path), "--workers", "2", cwd=tmp_path)
    watcher.join(timeout=5)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed, retry 1/1" in proc.stdout and "exited with code -9" in proc.stdout
    assert "4 done, 0 failed, 0 diverged, 0 skipped" in proc.stdout
    status = runs(tmp_path)
    assert sorted(s["attempts"] for s in status.values()) == [1, 1, 1, 2]
    retried = next(rid for rid, s in status.items() if s["attempts"] == 2)
    log = (tmp_path / "results/g/runs" / retried / "log.txt").read_text()
    assert log.count("== attempt") == 2
    for s in status.values():
        assert s["state"] == "done" and {"host", "started", "ended", "versions"} <= set(s)
    mtimes = {rid: (tmp_path / "results/g/runs" / rid / "metrics.json").stat().st_mtime_ns
              for rid in status}
    again = spp_lab("run", str(path), "--workers", "2", cwd=tmp_path)
    assert again.returncode == 0 and "0 to run · 4 skipped" in again.stdout
    assert mtimes == {rid: (tmp_path / "results/g/runs" / rid / "metrics.json").stat()
                      .st_mtime_ns for rid in status}


def _history_epochs(tmp_path: Path, rid: str, name="g") -> list[int]:
    with open(tmp_path / "results" / name / "runs" / rid / "history.csv") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_sigkill_mid_grid_then_rerun_completes_with_results_kept_once(tmp_path):
    path = experiment(tmp_path, n=256, epochs=3)
    proc = subprocess.Popen([str(BIN / "spp-lab"), "run", str(path), "--workers", "2"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: (tmp_path / "results/g/runs").exists() and any(
        s["state"] == "done" for s in runs(tmp_path).values()))
    before = {rid: (tmp_path / "results/g/runs" / rid / "metrics.json").read_text()
              for rid, s in runs(tmp_path).items() if s["state"] == "done"}
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # orphaned jobs get SIGTERM from the kernel when the forkserver exits
    states = {j["status"] for j in ls(path)["jobs"]}
    assert "running" not in states  # a killed runner leaves no job that looks alive
    again = spp_lab("run", str(path), "--workers", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    final = runs(tmp_path)
    assert len(final) == 4 and all(s["state"] == "done" for s in final.values())
    for rid, text in before.items():  # finished results untouched
        assert (tmp_path / "results/g/runs" / rid / "metrics.json").read_text() == text
    for rid in final:  # each epoch recorded exactly once
        assert _history_epochs(tmp_path, rid) == [1, 2, 3]


def test_sigint_marks_running_jobs_interrupted_and_they_resume(tmp_path):
    """Ctrl-C of the runner (a SIGINT to it alone, as `kill -INT`): the jobs are stopped with
    the same signal, say so, and the end-of-run counts are the ones ls prints."""
    path = experiment(tmp_path, n=512, epochs=4)
    proc = subprocess.Popen([str(BIN / "spp-lab"), "run", str(path), "--workers", "2"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    first = lambda: [p for p in (tmp_path / "results/g/runs").glob("*/history.csv")  # noqa
                     if len(p.read_text().splitlines()) > 1]  # header + an epoch's row
    assert wait_for(lambda: (tmp_path / "results/g/runs").exists() and first())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    status = runs(tmp_path)
    assert "interrupted" in {s["state"] for s in status.values()}
    assert "running" not in {s["state"] for s in status.values()}
    resumed = [rid for rid, s in status.items() if s["state"] == "interrupted"]
    assert {status[rid]["reason"] for rid in resumed} == {"SIGINT"}
    # counted here from the status files (4 jobs; no folder yet: new), not by spp-lab's count
    states = [s["state"] for s in status.values()] + ["new"] * (4 - len(status))
    order = ("new", "running", "done", "failed", "diverged", "interrupted", "corrupt")
    text = ", ".join(f"{states.count(k)} {k}" for k in order if states.count(k))
    assert f"the grid now: {text} (as spp-lab ls counts)" in out
    listed = json.loads(spp_lab("ls", str(path), "--json", cwd=tmp_path).stdout)["counts"]
    assert {k: v for k, v in listed.items() if v} == {k: states.count(k) for k in set(states)}
    # A job stopped before its first epoch ended has no history yet: nothing to keep.
    kept = {rid: _history_epochs(tmp_path, rid) if (tmp_path / "results/g/runs" / rid /
            "history.csv").exists() else [] for rid in resumed}
    assert any(kept.values())  # at least one job had finished epochs to keep
    again = spp_lab("run", str(path), "--workers", "2", cwd=tmp_path)
    assert again.returncode == 0
    for rid in resumed:
        epochs = _history_epochs(tmp_path, rid)
        assert epochs == [1, 2, 3, 4] and epochs[: len(kept[rid])] == kept[rid]
        log = (tmp_path / "results/g/runs" / rid / "log.txt").read_text()
        assert "interrupted" in log and log.count("== attempt") == 2


def test_two_runners_never_run_the_same_job_twice(tmp_path):
    path = experiment(tmp_path, n=128, epochs=2)
    cmd = [str(BIN / "spp-lab"), "run", str(path), "--workers", "1"]
    a = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    b = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    out_a, out_b = a.communicate(timeout=300)[0], b.communicate(timeout=300)[0]
    assert a.returncode == 0 and b.returncode == 0, out_a + out_b
    status = runs(tmp_path)
    assert len(status) == 4 and all(s["state"] == "done" for s in status.values())
    assert all(s["attempts"] == 1 for s in status.values())
    for rid in status:
        log = (tmp_path / "results/g/runs" / rid / "log.txt").read_text()
        assert log.count("== attempt") == 1


def test_each_job_sees_only_its_own_gpu(tmp_path):
    path = experiment(tmp_path, n=64, epochs=1, seeds="[0, 1]")
    proc = spp_lab("run", str(path), "--gpus", "5,7", cwd=tmp_path,
                   env={"CUDA_VISIBLE_DEVICES": "5,7"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = runs(tmp_path)
    assert {s["visible_devices"] for s in status.values()} == {"5", "7"}
    # Jobs that overlapped in time were on different devices (one job per GPU).
    spans = sorted((s["started"], s["ended"], s["visible_devices"]) for s in status.values())
    for (_, e1, d1), (s2, _, d2) in zip(spans, spans[1:]):
        if s2 < e1:
            assert d1 != d2


def test_job_start_is_warm(tmp_path):
    """The job process's own CPU seconds when its code begins: a cold start (spawn) has
    imported torch and Lightning by then (3-5 s of CPU on an idle 2-core Xeon), a job forked
    from the warm server has not. CPU seconds of that process: load elsewhere barely moves
    them, and 1 s sits far from both."""
    path = experiment(tmp_path, n=64, epochs=1)
    entry = {}
    for method in ("forkserver", "spawn"):  # the default, and the cold start it avoids
        proc = spp_lab("run", str(path), "--workers", "1", "--only",
                       "model.arch=zf5,condition=SPP", "--local", f"start_method={method}",
                       "--force", "--no-report", cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        (rid,) = runs(tmp_path)
        first = json.loads((tmp_path / "results/g/runs" / rid / "first_step.json").read_text())
        entry[method] = first["cpu_s_at_entry"]
    assert entry["forkserver"] < 1.0 < entry["spawn"], entry


ZF5 = ["--only", "model.arch=zf5"]  # 2 jobs of the grid: the remote executors' tests


def _retried_once_then_done(tmp_path: Path, proc: subprocess.CompletedProcess,
                            n: int = 2) -> dict:
    """The ``n`` jobs ended well, one of them after a retry; their status files."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed, retry 1/1" in proc.stdout
    status = runs(tmp_path)
    assert len(status) == n and all(s["state"] == "done" for s in status.values())
    assert sorted(s["attempts"] for s in status.values()) == [1] * (n - 1) + [2]
    return status


def test_ray_executor_on_a_local_instance_retries_a_lost_worker(tmp_path):
    pytest.importorskip("ray", reason="Ray is in the ray extra")
    path = experiment(tmp_path, n=64, epochs=3)  # epochs after the first step: the kill lands
    watcher = kill_first_attempts(tmp_path)  # the Ray worker running the job dies
    env = {"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = spp_lab("run", str(path), "--executor", "ray", *ZF5, cwd=tmp_path, env=env,
                   timeout=600)
    watcher.join(timeout=5)
    status = _retried_once_then_done(tmp_path, proc)
    assert all((tmp_path / "results/g/runs" / rid / "metrics.json").exists() for rid in status)
    # Ray starts workers at nice 15, where any other work on the node starves a job.
    assert {s["nice"] for s in status.values()} == {0}


def test_slurm_executor_through_submitit_retries_and_resumes(tmp_path):
    """--executor slurm with submitit's local cluster: the same submission path as on a
    Slurm cluster (pickled job, separate process, polling), a killed job is retried."""
    pytest.importorskip("submitit", reason="submitit is in the slurm extra")
    path = experiment(tmp_path, n=64, epochs=1, extra="slurm: {cluster: local, poll_s: 0.3}")
    watcher = kill_first_attempts(tmp_path)
    proc = spp_lab("run", str(path), "--executor", "slurm", "--slurm", "cpus=1", *ZF5,
                   cwd=tmp_path, timeout=600)
    watcher.join(timeout=5)
    _retried_once_then_done(tmp_path, proc)
    assert list((tmp_path / "results/g/slurm").glob("*/*_submitted.pkl"))
    again = spp_lab("run", str(path), "--executor", "slurm", *ZF5, cwd=tmp_path)
    assert again.returncode == 0 and "0 to run · 2 skipped" in again.stdout
    bad = spp_lab("run", str(path), "--executor", "slurm", "--slurm", "gpus=-1")
    assert bad.returncode == 2
    assert "--slurm gpus: Input should be greater than or equal to 0 (got -1)" in bad.stderr


def _slurm_node_up() -> bool:
    import shutil

    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed"))


@pytest.mark.skipif(not _slurm_node_up(), reason="no Slurm node here: .ci/run starts a "
                    "one-node cluster (.ci/slurm-up.sh) before the suite")
def test_slurm_executor_on_a_real_one_node_cluster(tmp_path):
    """sbatch, the scheduler and a Slurm job step: a killed job is retried, the grid
    completes, a rerun skips everything."""
    pytest.importorskip("submitit", reason="submitit is in the slurm extra")
    path = experiment(tmp_path, n=64, epochs=1, extra="slurm: {cpus: 1, mem_gb: 2, "
                                                       "time_min: 10, poll_s: 0.5}")
    watcher = kill_first_attempts(tmp_path)
    proc = spp_lab("run", str(path), "--executor", "slurm", *ZF5, cwd=tmp_path, timeout=600)
    watcher.join(timeout=5)
    _retried_once_then_done(tmp_path, proc)
    assert list((tmp_path / "results/g/slurm").glob("*/*_submission.sh"))  # sbatch scripts
    again = spp_lab("run", str(path), "--executor", "slurm", *ZF5, cwd=tmp_path)
    assert again.returncode == 0 and "0 to run · 2 skipped" in again.stdout
