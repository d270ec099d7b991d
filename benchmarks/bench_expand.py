"""Expanding an experiment file into jobs: time and peak memory per job, up to the limit
(``spp_lab.schema.MAX_JOBS``): both should stay flat per job (linear in the jobs)."""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path

from spp_lab.runner.expand import expand
from spp_lab.runner.experiment import load_experiment
from spp_lab.schema import MAX_JOBS

FILE = """name: big
base: {{output_dir: {out}}}
grid: {{model.arch: [zf5, overfeat5]}}
conditions: {{a: {{model.head: spp}}, b: {{model.head: pool}}}}
seeds: {seeds}
"""


def run(sizes: tuple[int, ...] = (1_000, 3_000, MAX_JOBS)) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"big{n}.yaml"
            path.write_text(FILE.format(out=tmp, seeds=list(range(n // 4))))
            exp = load_experiment(str(path))
            tracemalloc.start()
            t0 = time.perf_counter()
            jobs = expand(exp, gpus=[])
            secs = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out.append({"jobs": len(jobs), "s": secs, "peak_mb": peak / 2**20})
    return out


def report(rows: list[dict]) -> str:
    lines = ["Expansion of an experiment file (2 archs × 2 conditions × seeds)",
             "jobs      time s   ms/job   peak MB   KB/job"]
    for r in rows:
        lines.append(f"{r['jobs']:>6}  {r['s']:>7.2f}  {1e3 * r['s'] / r['jobs']:>7.3f}  "
                     f"{r['peak_mb']:>8.1f}  {1024 * r['peak_mb'] / r['jobs']:>7.1f}")
    first, last = rows[0], rows[-1]
    lines.append(f"per job, {last['jobs']} against {first['jobs']} jobs: time "
                 f"{(last['s'] / last['jobs']) / (first['s'] / first['jobs']):.2f}x, memory "
                 f"{(last['peak_mb'] / last['jobs']) / (first['peak_mb'] / first['jobs']):.2f}x"
                 " (target ≤ 1.5x: linear)")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
