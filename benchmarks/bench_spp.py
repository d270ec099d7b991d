"""SPP layer forward+backward: spp-lab's one-pass layer against (a) per-level adaptive pooling
and (b) one adaptive pool to the finest level (the one-pass bound). About 1 minute on 2 cores.

    python -m benchmarks.bench_spp [--device cuda]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from benchmarks.common import median_ms
from spp_lab.layers import spatial_pyramid_pool

# The paper's conv5 maps (ZF-5 at 224 and 180 px), a larger one, and the default
# experiment's (ZF-5 small stem, width 0.25, 32 px → 64 channels, 3×3, levels 3-2-1).
SHAPES = [((64, 256, 13, 13), (6, 3, 2, 1)), ((64, 256, 10, 10), (6, 3, 2, 1)),
          ((64, 256, 24, 24), (6, 3, 2, 1)), ((64, 64, 3, 3), (3, 2, 1))]


def per_level(x, levels):
    return torch.cat([F.adaptive_max_pool2d(x, n).flatten(1) for n in levels], 1)


def ours(x, levels):
    return spatial_pyramid_pool(x, levels, "max", "adaptive")


def bound(x, levels):
    return F.adaptive_max_pool2d(x, max(levels)).flatten(1)


def fwd_bwd(fn, x, levels):
    def step():
        x.grad = None
        fn(x, levels).sum().backward()
        if x.is_cuda:
            torch.cuda.synchronize()
    return step


def run(device: str = "cpu", reps: int = 15, quick: bool = False) -> list[dict]:
    """``quick``: the default model's map only, 3 repetitions (a check that it runs)."""
    rows = []
    for shape, levels in SHAPES[-1:] if quick else SHAPES:
        reps = 3 if quick else reps
        x = torch.randn(*shape, device=device, requires_grad=True)
        t = {name: median_ms(fwd_bwd(fn, x, levels), reps) for name, fn in
             (("spp_lab", ours), ("per_level", per_level), ("bound", bound))}
        rows.append({"shape": "x".join(map(str, shape)), "levels": levels, **t,
                     "per_level/ours": t["per_level"] / t["spp_lab"],
                     "ours/bound": t["spp_lab"] / t["bound"]})
    return rows


def report(rows: list[dict]) -> str:
    lines = ["SPP layer, forward+backward, max pooling (median ms; ratios)",
             f"{'map':<18}{'levels':<14}{'spp-lab':>9}{'per-level':>11}{'bound':>8}"
             f"{'per-level/ours':>16}{'ours/bound':>12}"]
    for r in rows:
        lines.append(f"{r['shape']:<18}{'-'.join(map(str, r['levels'])):<14}"
                     f"{r['spp_lab']:>9.2f}{r['per_level']:>11.2f}{r['bound']:>8.2f}"
                     f"{r['per_level/ours']:>15.2f}x{r['ours/bound']:>11.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    print(report(run(ap.parse_args().device)))
