"""All benchmarks, one command: ``make bench`` (= ``python -m benchmarks``), about 5 minutes
on 2 CPU cores. Prints the machine, then each benchmark's ratios measured side by side.

    python -m benchmarks [spp|train|runner|report ...] [--device cuda]
"""

from __future__ import annotations

import argparse

from benchmarks import bench_expand, bench_report, bench_runner, bench_spp, bench_train
from benchmarks.common import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("only", nargs="*", choices=["spp", "train", "runner", "report", "expand", []],
                    help="run only these")
    ap.add_argument("--device", default="cpu", help="device of the SPP layer benchmark")
    args = ap.parse_args()
    want = set(args.only) or {"spp", "train", "runner", "report", "expand"}
    print(f"machine: {machine()}\n")
    if "spp" in want:
        print(bench_spp.report(bench_spp.run(args.device)) + "\n")
    if "train" in want:
        print(bench_train.report(bench_train.run()) + "\n")
    if "runner" in want:
        print(bench_runner.report(bench_runner.run()) + "\n")
    if "expand" in want:
        print(bench_expand.report(bench_expand.run()) + "\n")
    if "report" in want:
        print(bench_report.report(bench_report.run()) + "\n")


if __name__ == "__main__":
    main()
