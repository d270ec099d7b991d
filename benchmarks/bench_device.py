"""Throughput on one device, each against its baseline in the same process:

* the SPP layer, forward+backward, in fp32 and bf16, contiguous and channels-last, against
  one adaptive max pool to the finest level (the one-pass bound; target ≤ 1.3×, and
  channels-last no slower than contiguous);
* ZF-5 training step at 224 px (64 px with ``--quick``), bf16 autocast on CUDA,
  channels-last: images/s with the paper's LRN against batch norm (target ≥ 0.8×), and
  the packing estimate (``spp_lab.runner.packing``) against the measured peak memory
  (target: estimate ≥ measured; CUDA only);
* JPEG decode + resize + crop + flip: images/s of one PIL loader worker, and of a batch
  decoded on the device (``data.decode: device``): how many workers feed ZF-5?

    python -m benchmarks.bench_device [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import median_ms


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


SPP_SHAPES = [(128, 256, 13, 13), (128, 256, 18, 18), (256, 512, 13, 13)]


def spp_variants(device: str, quick: bool) -> list[dict]:
    from spp_lab.layers import spatial_pyramid_pool

    levels, rows = (6, 3, 2, 1), []
    for shape in [(8, 16, 13, 13)] if quick else SPP_SHAPES:
        for dtype in (torch.float32, torch.bfloat16):
            for layout in ("contiguous", "channels_last"):
                x = torch.randn(*shape, device=device, dtype=dtype)
                if layout == "channels_last":
                    x = x.contiguous(memory_format=torch.channels_last)
                x.requires_grad_()

                def fwd_bwd(fn, x=x):
                    def go():
                        x.grad = None
                        fn(x).float().sum().backward()
                        _sync(device)
                    return go

                ours = median_ms(fwd_bwd(lambda t: spatial_pyramid_pool(
                    t, levels, "max", "adaptive")), reps=20)
                bound = median_ms(fwd_bwd(lambda t: torch.nn.functional.adaptive_max_pool2d(
                    t, max(levels))), reps=20)
                rows.append({"shape": "x".join(map(str, shape)), "dtype": str(dtype)[6:],
                             "layout": layout, "spp_ms": ours, "bound_ms": bound})
    return rows


def zf5_speed(device: str, quick: bool, batchnorm: bool) -> dict:
    """Images/s of a ZF-5 training step, and its peak memory (CUDA)."""
    from spp_lab.config import ModelConfig
    from spp_lab.models import build_net

    size, batch, width = (64, 8, 0.25) if quick else (224, 128, 1.0)
    net = build_net(ModelConfig(width=width, batchnorm=batchnorm), num_classes=1000,
                    image_size=size).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)

    ms = median_ms(step, reps=5 if quick else 20)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return {"img_per_s": batch * 1e3 / ms, "peak_bytes": peak, "size": size, "batch": batch}


def data_rate(device: str, quick: bool) -> dict:
    """JPEG decode + augment, images/s: one loader worker (PIL), and one batch on
    ``device`` through ``data.decode: device``'s own code path."""
    from PIL import Image

    from spp_lab.data.datasets import PILFolder
    from spp_lab.data.device_decode import JpegFolder, collate
    from spp_lab.data.shapes import make_scenes, render

    n = 16 if quick else 128
    with tempfile.TemporaryDirectory() as d:
        files = []
        scenes = make_scenes(n, seed=0, split="test")
        scenes.aspect[:] = 4 / 3  # ImageNet's typical 500×375
        for i, img in enumerate(render(scenes, 375)):
            f = Path(d) / f"{i}.jpg"
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(f, quality=90)
            files.append(f)
        kw = {"resize": 256, "crop": 224, "train": True, "flip": True}
        ds = PILFolder(files, [0] * n, **kw)
        t0 = time.perf_counter()
        for i in range(n):
            ds[i]
        cpu = n / (time.perf_counter() - t0)
        jpegs = JpegFolder(files, [0] * n, **kw)
        batch = collate([jpegs[i] for i in range(n)], jpegs.view)
        collate([jpegs[i] for i in range(4)], jpegs.view).decode(torch.device(device))
        _sync(device)
        t0 = time.perf_counter()
        images, _ = batch.decode(torch.device(device))
        _sync(device)
        on_device = n / (time.perf_counter() - t0)
    assert images.shape == (n, 3, 224, 224) and images.device.type == device
    return {"cpu_worker_img_per_s": cpu, "device_decode_img_per_s": on_device, "n": n}


def run(device: str = "cpu", quick: bool = False) -> dict:
    from spp_lab.config import build_config
    from spp_lab.runner.packing import estimate_job_bytes

    r = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu"}
    r["spp"] = spp_variants(device, quick)
    r["lrn"], r["bn"] = (zf5_speed(device, quick, bn) for bn in (False, True))
    cfg = build_config({"data": {"image_size": r["lrn"]["size"],
                                 "batch_size": r["lrn"]["batch"]},
                        "train": {"precision": "bf16-mixed"}})
    r["estimate_bytes"] = estimate_job_bytes(cfg)
    r["data"] = data_rate(device, quick)
    return r


def report(r: dict) -> str:
    lrn, bn, d = r["lrn"], r["bn"], r["data"]
    need = lrn["img_per_s"] / d["cpu_worker_img_per_s"]
    lines = [f"device throughput ({r['device']})", "",
             "| measure | result | target |", "|---|---|---|"]
    lines += [f"| SPP fwd+bwd {s['shape']} {s['dtype']} {s['layout']} | {s['spp_ms']:.3f} / "
              f"{s['bound_ms']:.3f} ms = {s['spp_ms'] / s['bound_ms']:.2f}× the bound | ≤ 1.3× |"
              for s in r["spp"]]
    lines += [
             f"| ZF-5 {lrn['size']} px batch {lrn['batch']}: LRN / batch norm img/s | "
             f"{lrn['img_per_s']:.0f} / {bn['img_per_s']:.0f} = "
             f"{lrn['img_per_s'] / bn['img_per_s']:.2f}× | ≥ 0.8× |"]
    if lrn["peak_bytes"]:
        lines.append(f"| ZF-5 peak memory: measured / packing estimate | "
                     f"{lrn['peak_bytes'] / 2**30:.2f} / {r['estimate_bytes'] / 2**30:.2f} "
                     "GiB | estimate ≥ measured |")
    bound = "data" if need > (os.cpu_count() or 1) - 2 else "model"
    lines += [f"| JPEG decode+augment on the device (data.decode: device) | "
              f"{d['device_decode_img_per_s']:.0f} img/s, one batch of {d['n']} | |",
              f"| JPEG decode+augment per CPU worker | {d['cpu_worker_img_per_s']:.0f} img/s: "
              f"{need:.1f} workers feed ZF-5 ({bound}-bound here) | |"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="64 px, small batches")
    args = ap.parse_args()
    print(report(run(args.device, args.quick)))


if __name__ == "__main__":
    main()
