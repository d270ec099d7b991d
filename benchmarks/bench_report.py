"""`spp-lab report` on 10,000 run folders (collection, statistics, tables, charts), each a
finished run as the runner leaves it. About 3 minutes, half of it writing the fixture.

Each figure is the median of 3 fresh interpreters: ``write_report`` alone, its imports
done first (the figure of benchmarks/README.md), alternating with the whole ``spp-lab report``
command; then the baseline on the same folders: one process reading ``config.yaml`` (as
for folders written before ``config.json``, or on a machine with one CPU).

    python -m benchmarks.bench_report
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from spp_lab.config import build_config
from spp_lab.fileio import write_json
from spp_lab.results import RunFolder

BIN = Path(sys.executable).parent
TIMED = """
import sys, time
t0 = time.perf_counter()
from spp_lab.report.build import write_report
t1 = time.perf_counter()
write_report(sys.argv[1], workers=1 if sys.argv[2] == "serial" else None)
print(time.perf_counter() - t1, t1 - t0)
"""
CONDS = ["no SPP", "SPP single-size", "SPP multi-size"]
ARCHS = ["zf5", "convnet5", "overfeat5", "overfeat7"]


def make_fixture(root: Path, n: int = 10_000, epochs: int = 3) -> None:
    """``n`` finished runs as the runner leaves them: a full resolved config (both files),
    status, metrics and an ``epochs``-row history."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "experiment.json").write_text(json.dumps({
        "name": "bench", "conditions": CONDS, "grid": ["model.arch"],
        "report": {"metric": "val_top1_err", "baseline": "no SPP", "rows": "model.arch",
                   "interaction": []}}))
    for i in range(n):
        arch, cond, seed = ARCHS[i % 4], CONDS[(i // 4) % 3], i // 12
        run = RunFolder(root / "runs" / f"{i:06d}")
        run.path.mkdir(parents=True)
        err = 40 - 2 * (i // 4 % 3) + (i % 7) * 0.1
        run.write_config(build_config({"experiment": "bench", "model": {
            "arch": arch, "head": "pool" if cond == "no SPP" else "spp"},
            "train": {"seed": seed, "epochs": epochs}}).model_dump(mode="json"))
        write_json(run.status_file, {"state": "done", "condition": cond, "seed": seed})
        write_json(run.metrics_file, {"final": {"val_top1_err": err},
                                      "best": {"val_top1_err": err, "epoch": 0},
                                      "epochs": epochs})
        run.write_history([{"epoch": e, "train_size": 32, "train_loss": 2.0 - e / 10,
                            "val_top1_err": err + epochs - e, "lr": 0.01}
                           for e in range(epochs)])


def _timed(root: Path, mode: str) -> tuple[float, float]:
    """(report seconds, import seconds) of ``write_report`` in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", TIMED, str(root), mode], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def _command(root: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "spp-lab"), "report", str(root)], check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def run(n: int = 10_000, reps: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "bench"
        make_fixture(root, n)
        fast, command = [], []
        for _ in range(reps):
            fast.append(_timed(root, "default"))
            command.append(_command(root))
        for cfg in (root / "runs").glob("*/config.json"):
            cfg.unlink()
        base = [_timed(root, "serial") for _ in range(reps)]
    med = statistics.median
    return {"rows": n, "seconds": med(t for t, _ in fast), "imports": med(i for _, i in fast),
            "command": med(command), "baseline": med(t for t, _ in base)}


def report(r: dict) -> str:
    return (f"spp-lab report on {r['rows']} run folders: write_report {r['seconds']:.2f} s "
            f"(its imports {r['imports']:.2f} s more), the whole command "
            f"{r['command']:.2f} s; one process reading config.yaml {r['baseline']:.2f} s: "
            f"{r['baseline'] / r['seconds']:.2f}x")


if __name__ == "__main__":
    print(report(run()))
