"""``make gpu-check``: what needs a GPU, in one short run (about 4 minutes on one H100;
the device's own Python needs pydantic beside torch and Lightning):

1. the CUDA tests: ``pytest -m cuda`` (every training switch on the device, the fused SPP
   scatter kernels), which skip on a machine without one and run on their CPU twins in
   every ``make test``;
2. the benchmarks on the device: ``python -m benchmarks spp device --device cuda``;
3. the default experiment with ``--smoke`` (every job must finish) and in full (jobs per
   GPU, wall time; target ≤ 90 s on an H100).

    python -m benchmarks.gpu_check [--device cpu] [--quick] [--no-runs]

Output goes to stdout, and with ``$OUT`` set, each step's also to ``$OUT/gpu_check/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CUDA_TESTS = ["tests/test_switches_on_device.py", "tests/test_spp_fast.py"]


def step(name: str, cmd: list[str], timeout: int = 900, **kw) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          **kw)
    out = {"step": name, "rc": proc.returncode, "seconds": round(time.perf_counter() - t0),
           "output": proc.stdout[-6000:] + proc.stderr[-3000:]}
    print(f"== {name}: exit {out['rc']}, {out['seconds']} s\n{proc.stdout[-6000:]}",
          flush=True)
    return out


def grid(args: list[str], out: Path) -> dict:
    r = step(f"spp-lab run experiments.yaml {' '.join(args)}",
             [str(BIN / "spp-lab"), "run", "experiments.yaml", "--set", f"output_dir={out}",
              *args], env={**os.environ, "WANDB_MODE": "disabled"})
    states = [json.loads(p.read_text())["state"] for p in out.glob("*/runs/*/status.json")]
    r["done"], r["jobs"] = states.count("done"), len(states)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small benchmarks, no full grid")
    ap.add_argument("--no-runs", action="store_true", help="no spp-lab runs (smoke, grid)")
    args = ap.parse_args()
    steps = [step("CUDA tests", [sys.executable, "-m", "pytest", "-q", "-p",
                                 "no:cacheprovider", "-m", "cuda", *CUDA_TESTS]),
             step("benchmarks", [sys.executable, "-m", "benchmarks", "spp", "device",
                                 "--device", args.device] + (["--quick"] if args.quick
                                                             else []))]
    with tempfile.TemporaryDirectory() as d:
        if not args.no_runs:
            steps.append(grid(["--smoke"], Path(d) / "smoke"))
        if not (args.quick or args.no_runs):
            steps.append(grid([], Path(d) / "grid"))
    print("| step | exit | seconds | jobs done |\n|---|---|---|---|")
    for s in steps:
        print(f"| {s['step']} | {s['rc']} | {s['seconds']} | "
              f"{s.get('done', '')}{'/' + str(s['jobs']) if 'jobs' in s else ''} |")
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(json.dumps(steps, indent=2))
    sys.exit(max(s["rc"] for s in steps))


if __name__ == "__main__":
    main()
