"""Training throughput (images/s) of the default experiment's model with the spp, pool and
global heads, channels_last against contiguous memory, and the data path against what the
model consumes. About 3 minutes.

    python -m benchmarks.bench_train
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from spp_lab.config import DataConfig, ModelConfig, TrainConfig
from spp_lab.data import SPPDataModule
from spp_lab.data.shapes import make_scenes, render
from spp_lab.module import SPPClassifier

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64


def default_base() -> dict:
    return yaml.safe_load((ROOT / "experiments.yaml").read_text())["base"]


def stepper(head: str, batch: int = BATCH, channels_last: bool = True,
            arch: str | None = None, batchnorm: bool | None = None) -> Callable[[], float]:
    """One training step (fwd, bwd, AdamW) of the default model with these switches, as a
    function that runs it and returns its seconds."""
    base = default_base()
    size = base["data"]["image_size"]
    model_kw = {**base["model"], "head": head, "arch": arch or base["model"].get("arch", "zf5")}
    if batchnorm is not None:
        model_kw["batchnorm"] = batchnorm
    torch.manual_seed(0)
    m = SPPClassifier(ModelConfig(**model_kw), TrainConfig(channels_last=channels_last),
                      num_classes=10, image_size=size)
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    x = torch.randint(0, 255, (batch, 3, size, size), dtype=torch.uint8)
    y = torch.randint(0, 10, (batch,))

    def step() -> float:
        t0 = time.perf_counter()
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - t0
    return step


def data_rates(n: int = 4000) -> dict[str, float]:
    base = default_base()
    size = base["data"]["image_size"]
    t0 = time.perf_counter()
    render(make_scenes(n, 0), round(size * 8 / 7))
    gen = n / (time.perf_counter() - t0)
    # The loader alone (crops, flips, batches) on a fixed set: with data.resample the
    # generation above also runs once per epoch, and is reported on its own.
    dm = SPPDataModule(DataConfig(**{**base["data"], "num_train": n, "num_val": 64,
                                     "resample": False}))
    dm.setup()
    t0 = time.perf_counter()
    seen = sum(len(y) for _, y in dm.train_dataloader())
    load = seen / (time.perf_counter() - t0)
    return {"generate": gen, "loader": load}


def paired(cases: dict, rounds: int = 150, warmup: int = 5) -> dict[object, list[float]]:
    """Step times of each case, one step of each in turn (the order reversed every round),
    so that the machine's drift (±20% over seconds on this VM) hits every case alike."""
    steps = {k: stepper(**kw) for k, kw in cases.items()}
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: dict = {k: [] for k in cases}
    for r in range(rounds):
        for k in (list(cases) if r % 2 == 0 else list(cases)[::-1]):
            times[k].append(steps[k]())
    return times


def rate(times: dict, a: object) -> float:
    """Images/s of case ``a``: the batch over its median step."""
    return BATCH / statistics.median(times[a])


def ratio(times: dict, a: object, b: object) -> float:
    """``a``'s images/s over ``b``'s: the median over rounds of the pair's step-time ratio."""
    return statistics.median(tb / ta for ta, tb in zip(times[a], times[b]))


def lrn_layer(shape=(32, 96, 55, 55), reps: int = 7) -> dict[str, float]:
    """Cross-channel LRN fwd+bwd on a channels-last map: spp-lab's banded 1×1 conv against
    torch's nn.LocalResponseNorm (ms, medians)."""
    from benchmarks.common import median_ms
    from spp_lab.layers.lrn import LocalResponseNorm2d

    x = torch.randn(*shape).contiguous(memory_format=torch.channels_last).requires_grad_()
    ours = LocalResponseNorm2d(shape[1], 5, 1e-4, 0.75, 2.0)
    ref = torch.nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)

    def step(layer):
        def go():
            x.grad = None
            layer(x).sum().backward()
        return go

    return {"ours_ms": median_ms(step(ours), reps), "torch_ms": median_ms(step(ref), reps)}


def run() -> dict:
    from benchmarks.bench_device import data_rate

    speeds = paired({h: {"head": h} for h in ("spp", "pool", "global")})
    layout = paired({(a, cl): {"head": "spp", "arch": a, "channels_last": cl}
                     for a in ("zf5", "overfeat5") for cl in (True, False)}, rounds=75)
    norm = paired({bn: {"head": "spp", "batchnorm": bn} for bn in (False, True)}, rounds=75)
    return {"speeds": speeds, "layout": layout, "norm": norm, "lrn": lrn_layer(),
            "data": data_rates(), "jpeg": data_rate("cpu", quick=False)}


def report(r: dict) -> str:
    s, d, lay, norm = r["speeds"], r["data"], r["layout"], r["norm"]
    spp = rate(s, "spp")
    return "\n".join([
        f"Training throughput, default model (fwd+bwd+step, batch {BATCH}, images/s at the "
        f"median step of {len(s['spp'])}; ratios: medians of paired steps' ratios)",
        "  " + ", ".join(f"{h}: {rate(s, h):.0f}" for h in s),
        f"  spp / pool = {ratio(s, 'spp', 'pool'):.2f}x   "
        f"spp / global = {ratio(s, 'spp', 'global'):.2f}x",
        "Memory format, spp head (images/s): channels_last (default) / contiguous",
        *(f"  {a}: {rate(lay, (a, True)):.0f} / {rate(lay, (a, False)):.0f} = "
          f"{ratio(lay, (a, True), (a, False)):.2f}x" for a in ("zf5", "overfeat5")),
        "Data path (images/s)",
        f"  shapes generation: {d['generate']:.0f}  loader (crops, flips, batches): "
        f"{d['loader']:.0f}",
        f"  loader / model consumption (spp) = {d['loader'] / spp:.1f}x   "
        f"generation / consumption = {d['generate'] / spp:.1f}x",
        f"  with data.resample (both, every epoch) / consumption = "
        f"{1 / (1 / d['generate'] + 1 / d['loader']) / spp:.1f}x",
        "LRN (ZF-5's normalisation), fwd+bwd on a 32x96x55x55 channels-last map (ms)",
        f"  banded 1x1 conv {r['lrn']['ours_ms']:.1f} / torch's LocalResponseNorm "
        f"{r['lrn']['torch_ms']:.1f} = {r['lrn']['torch_ms'] / r['lrn']['ours_ms']:.2f}x faster",
        f"  default ZF-5 images/s: LRN {rate(norm, False):.0f} / batch norm "
        f"{rate(norm, True):.0f} = {ratio(norm, False, True):.2f}x",
        "JPEG image folder (500x375, decode + resize 256 + crop 224 + flip), one worker: "
        f"{r['jpeg']['cpu_worker_img_per_s']:.0f} images/s"])


if __name__ == "__main__":
    print(report(run()))
