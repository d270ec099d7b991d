"""`spp-lab report` on 10,000 synthetic run folders (collection, statistics, tables,
charts). About 30 s, most of it writing the fixture.

    python -m benchmarks.bench_report
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import yaml

from spp_lab.report.build import write_report

CONDS = ["no SPP", "SPP single-size", "SPP multi-size"]
ARCHS = ["zf5", "convnet5", "overfeat5", "overfeat7"]


def make_fixture(root: Path, n: int = 10_000) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "experiment.json").write_text(json.dumps({
        "name": "bench", "conditions": CONDS, "grid": ["model.arch"],
        "report": {"metric": "val_top1_err", "baseline": "no SPP", "rows": "model.arch",
                   "interaction": []}}))
    for i in range(n):
        arch, cond, seed = ARCHS[i % 4], CONDS[(i // 4) % 3], i // 12
        run = root / "runs" / f"{i:06d}"
        run.mkdir(parents=True)
        err = 40 - 2 * (i // 4 % 3) + (i % 7) * 0.1
        (run / "config.yaml").write_text(yaml.safe_dump({"model": {"arch": arch},
                                                         "train": {"seed": seed}}))
        (run / "status.json").write_text(json.dumps({"state": "done", "condition": cond,
                                                     "seed": seed}))
        (run / "metrics.json").write_text(json.dumps({
            "final": {"val_top1_err": err}, "best": {"val_top1_err": err, "epoch": 0},
            "epochs": 1}))


def run(n: int = 10_000) -> dict:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "bench"
        make_fixture(root, n)
        t0 = time.perf_counter()
        write_report(root)
        return {"rows": n, "seconds": time.perf_counter() - t0}


def report(r: dict) -> str:
    return f"spp-lab report on {r['rows']} run folders: {r['seconds']:.2f} s"


if __name__ == "__main__":
    print(report(run()))
