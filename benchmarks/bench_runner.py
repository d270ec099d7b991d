"""The runner: job start (warm forkserver against cold spawn), makespan of 12 short CPU jobs
on 2 workers against the ideal (W&B disabled), and `spp-lab ls` / `spp-lab run` on a
finished 100-job grid. About 2 minutes on 2 cores.

    python -m benchmarks.bench_runner
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from spp_lab.fileio import write_json
from spp_lab.results import RunFolder
from spp_lab.runner.executors.local import LocalExecutor
from spp_lab.runner.expand import expand
from spp_lab.runner.experiment import load_experiment
from spp_lab.runs import run_dir

BIN = Path(sys.executable).parent
GRID = """
name: bench
base:
  output_dir: {out}
  model: {{stem: small, width: 0.125, batchnorm: true, fc_dim: 64, levels: [2, 1]}}
  data: {{image_size: 32, num_train: 512, num_val: 64, batch_size: 64}}
  train: {{epochs: 2, optimizer: adamw, lr: 0.003}}
grid: {{model.arch: [zf5, overfeat5, convnet5]}}
conditions: {{a: {{model.pool: max}}, b: {{model.pool: avg}}}}
seeds: {seeds}
"""


def _jobs(tmp: Path, name: str, seeds: str):
    path = tmp / f"{name}.yaml"
    path.write_text(textwrap.dedent(GRID.format(out=tmp / name, seeds=seeds)))
    return path, expand(load_experiment(str(path)), gpus=[])


def start_and_makespan(tmp: Path) -> dict:
    out = {}
    for method in ("forkserver", "spawn"):
        _, jobs = _jobs(tmp, method, "[0, 1]")  # 3 archs × 2 conditions × 2 seeds = 12 jobs
        t0 = time.time()
        ex = LocalExecutor(gpus=[], workers=2, start_method=method)
        ex.run(jobs)
        total = time.time() - t0
        starts, trains, dispatched, ended = [], [], [], []
        for job in jobs:
            rdir = run_dir(job.config, job.run_id)
            status = json.loads((rdir / "status.json").read_text())
            first = json.loads((rdir / "first_step.json").read_text())["time"]
            starts.append(first - status["dispatched_at"])
            dispatched.append(status["dispatched_at"])
            ended.append(json.loads((rdir / "progress.json").read_text())["time"])  # last epoch
            trains.append(json.loads((rdir / "metrics.json").read_text())["wall_time_s"])
        # from the first job handed out to the last one ended; before it, the preload
        warmup = min(dispatched) - t0
        out[method] = {"start_s": statistics.median(starts),
                       "makespan_s": max(ended) - min(dispatched),
                       "total_s": total, "warmup_s": warmup,
                       "ideal_s": sum(trains) / 2, "jobs": len(jobs)}
    return out


def finished_grid(tmp: Path) -> dict:
    path = tmp / "big.yaml"
    text = GRID.format(out=tmp / "big", seeds=list(range(25))).replace(
        "[zf5, overfeat5, convnet5]", "[zf5, overfeat5]")
    path.write_text(textwrap.dedent(text))  # 2 archs × 2 conditions × 25 seeds = 100 jobs
    jobs = expand(load_experiment(str(path)), gpus=[])
    for job in jobs:  # mark every job done without training
        rdir = run_dir(job.config, job.run_id)
        RunFolder(rdir).write_config(job.config.model_dump(mode="json"))
        write_json(rdir / "metrics.json", {"final": {"val_top1_err": 50.0}, "epochs": 1,
                                           "best": {"val_top1_err": 50.0, "epoch": 0}})
        write_json(rdir / "status.json", {"state": "done", "condition": job.condition,
                                          "seed": job.seed, "attempts": 1})
        RunFolder(rdir).write_history([{"epoch": 0, "val_top1_err": 50.0}])
    times = {}
    for cmd in (["ls", str(path)], ["run", str(path), "--no-report"]):
        t0 = time.perf_counter()
        proc = subprocess.run([str(BIN / "spp-lab"), *cmd], capture_output=True, text=True,
                              check=False)
        times[cmd[0]] = time.perf_counter() - t0
        if proc.returncode != 0 or (cmd[0] == "run" and " · 0 to run" not in proc.stdout):
            raise RuntimeError(f"spp-lab {cmd[0]} on the finished grid: {proc.stdout[-500:]}"
                               f"{proc.stderr[-500:]}")
    times["jobs"] = len(jobs)
    return times


def run() -> dict:
    # The runner's own costs: W&B off. An offline W&B run adds its own start-up to every
    # job before its first step (2.4 s here; the README gives both figures).
    os.environ["WANDB_MODE"] = "disabled"
    with tempfile.TemporaryDirectory() as d:
        return {"start": start_and_makespan(Path(d)), "grid": finished_grid(Path(d))}


def report(r: dict) -> str:
    w, c, g = r["start"]["forkserver"], r["start"]["spawn"], r["grid"]
    return "\n".join([
        "Runner (12 jobs, 2 CPU workers)",
        f"  job start, dispatch → first training step: warm {w['start_s']:.2f} s, cold "
        f"{c['start_s']:.2f} s ({c['start_s'] / w['start_s']:.1f}x)",
        f"  makespan {w['makespan_s']:.1f} s vs ideal Σ(train time)/2 = {w['ideal_s']:.1f} s: "
        f"{w['makespan_s'] / w['ideal_s']:.2f}x (plus {w['warmup_s']:.1f} s once, to preload "
        f"torch in the forkserver: {w['total_s'] / w['ideal_s']:.2f}x in all)",
        f"Finished {g['jobs']}-job grid: spp-lab ls {g['ls']:.2f} s, spp-lab run (all skipped) "
        f"{g['run']:.2f} s"])


if __name__ == "__main__":
    print(report(run()))
