"""All benchmarks, one command: ``make bench`` (= ``python -m benchmarks``), about 5 minutes
on 2 CPU cores. Prints the machine, then each benchmark's ratios measured side by side.

    python -m benchmarks [spp|train|runner|report|expand|device ...] [--device cuda] [--quick]

``device`` (the SPP layer's dtypes and layouts, ZF-5 LRN against batch norm, data decode)
is what ``make gpu-check`` runs on a GPU; ``make bench`` leaves it out.
"""

from __future__ import annotations

import argparse

from benchmarks import (
    bench_device,
    bench_expand,
    bench_report,
    bench_runner,
    bench_spp,
    bench_train,
)
from benchmarks.common import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("only", nargs="*", help="run only these: spp, train, runner, report, "
                    "expand, device")
    ap.add_argument("--device", default="cpu", help="device of the spp and device benchmarks")
    ap.add_argument("--quick", action="store_true", help="spp and device: small, few reps")
    args = ap.parse_args()
    known = {"spp", "train", "runner", "report", "expand", "device"}
    if set(args.only) - known:
        ap.error(f"unknown benchmark {sorted(set(args.only) - known)}; choose from "
                 f"{', '.join(sorted(known))}")
    want = set(args.only) or known - {"device"}
    print(f"machine: {machine()}\n")
    if "spp" in want:
        print(bench_spp.report(bench_spp.run(args.device, quick=args.quick)) + "\n")
    if "device" in want:
        print(bench_device.report(bench_device.run(args.device, args.quick)) + "\n")
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
