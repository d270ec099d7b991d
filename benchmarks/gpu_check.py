"""``make gpu-check``: everything that needs a GPU, in one run and one table (about 4 minutes
on one H100; the device's own Python needs pydantic beside torch and Lightning).

    python -m benchmarks.gpu_check                      # on a machine with a CUDA GPU
    python -m benchmarks.gpu_check --device cpu --quick # the same code, small, on a CPU
                                                        # (tests/test_gpu_check.py runs it)

1. the CUDA tests (the ones that skip without a GPU);
2. every training switch on the device (heads, pool types, bin formulas, size schedules,
   memory layouts, precisions, determinism): two Lightning steps each, must train;
3. the default experiment with ``--smoke``: every job must finish;
4. the SPP layer, fwd+bwd, against one adaptive max pool to the finest level (the
   one-pass bound), fp32 and bf16, contiguous and channels-last (targets: ≤ 1.3× the bound,
   channels-last no slower than contiguous);
5. ZF-5 at 224 px, bf16, channels-last: images/s with the paper's LRN against batch norm
   (target ≥ 0.8×), and the packing estimate against the measured peak memory;
6. data: JPEG decode + augment images/s per CPU worker and on the device (``data.decode:
   device``), against what the model consumes: does data or model bound ZF-5 at 224 px?
7. the default grid in full (``spp-lab run experiments.yaml``): jobs per GPU, wall time
   (target ≤ 90 s on an H100).
The table goes to stdout, and with ``$OUT`` set, also ``gpu_check.json`` there.
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

import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SPP_SHAPES = [(128, 256, 13, 13), (128, 256, 18, 18), (256, 512, 13, 13)]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, device: str, reps: int) -> float:
    for _ in range(3):
        fn()
    _sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1e3


def matrix_cases() -> list[dict]:
    """A covering set: every (precision, determinism, layout) with the default head, then
    every other option value once."""
    cases = [{"precision": p, "deterministic": d, "channels_last": cl, "sizes": [32, 24]}
             for p in ("32-true", "bf16-mixed", "16-mixed") for d in (True, False)
             for cl in (True, False)]
    base = {"precision": "bf16-mixed", "deterministic": True, "channels_last": True}
    for model in ({"pool": "avg"}, {"pool": "avgmax"}, {"pool": "catavgmax"},
                  {"bins": "paper"}, {"head": "pool", "pool5_bins": 3}, {"head": "global"}):
        cases.append(base | {"model": model})
    for sched in ("batch", "random"):
        cases.append(base | {"sizes": [32, 24], "size_schedule": sched})
    return cases


def train_matrix(device: str) -> list[dict]:
    import pytorch_lightning as pl

    from spp_lab.config import DataConfig, ModelConfig, TrainConfig
    from spp_lab.data import SPPDataModule
    from spp_lab.module import SPPClassifier

    dm = SPPDataModule(DataConfig(image_size=32, num_train=64, num_val=32, batch_size=16))
    rows = []
    for case in matrix_cases():
        model = ModelConfig(stem="small", width=0.125, fc_dim=64, levels=[3, 2, 1],
                            **case.get("model", {}))
        train = TrainConfig(epochs=2, sizes=case.get("sizes", []),
                            size_schedule=case.get("size_schedule", "epoch"),
                            channels_last=case["channels_last"], optimizer="adamw", lr=1e-3)
        label = " ".join(f"{k}={v}" for k, v in case.items())
        try:
            net = SPPClassifier(model, train, num_classes=dm.num_classes, image_size=32)
            trainer = pl.Trainer(
                max_epochs=2, accelerator="gpu" if device == "cuda" else "cpu", devices=1,
                precision=case["precision"], deterministic=case["deterministic"],
                limit_train_batches=2, limit_val_batches=1, logger=False,
                enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, num_sanity_val_steps=0)
            trainer.fit(net, dm)
            loss = float(trainer.callback_metrics["train/loss"])
            ok = bool(torch.isfinite(torch.tensor(loss)))
            rows.append({"case": label, "ok": ok, "detail": f"loss {loss:.3f}"})
        except Exception as err:  # noqa: BLE001  (report every failing case, not the first)
            rows.append({"case": label, "ok": False, "detail": f"{type(err).__name__}: "
                                                              f"{str(err)[:200]}"})
    return rows


def _fwd_bwd(x: torch.Tensor, fn):
    def run():
        x.grad = None
        fn(x).float().sum().backward()
    return run


def spp_bench(device: str, quick: bool) -> list[dict]:
    from spp_lab.layers import spatial_pyramid_pool

    levels, rows = (6, 3, 2, 1), []
    shapes = [(8, 16, 13, 13)] if quick else SPP_SHAPES
    for shape in shapes:
        for dtype in (torch.float32, torch.bfloat16):
            for layout in ("contiguous", "channels_last"):
                x = torch.randn(*shape, device=device, dtype=dtype)
                if layout == "channels_last":
                    x = x.contiguous(memory_format=torch.channels_last)
                x.requires_grad_()
                ours = median_ms(_fwd_bwd(x, lambda t: spatial_pyramid_pool(
                    t, levels, "max", "adaptive")), device, 20)
                bound = median_ms(_fwd_bwd(x, lambda t: torch.nn.functional.adaptive_max_pool2d(
                    t, max(levels))), device, 20)
                rows.append({"shape": "x".join(map(str, shape)), "dtype": str(dtype)[6:],
                             "layout": layout, "spp_ms": ours, "bound_ms": bound,
                             "ratio": ours / bound})
    return rows


def zf5_speed(device: str, quick: bool, batchnorm: bool) -> dict:
    """Images/s of a ZF-5 training step (bf16 autocast on CUDA), and its peak memory."""
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

    ms = median_ms(step, device, 5 if quick else 20)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return {"img_per_s": batch * 1e3 / ms, "peak_bytes": peak, "size": size, "batch": batch}


def data_rate(quick: bool, device: str = "cpu") -> dict:
    """JPEG decode + resize + crop + flip, images/s: one loader worker (PIL), and a batch
    decoded on ``device`` through ``data.decode: device``'s own code path."""
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
    return {"cpu_worker_img_per_s": cpu, "device_decode_img_per_s": on_device}


def spp_lab_run(args: list[str], out: Path, timeout: int) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN / "spp-lab"), "run", str(ROOT / "experiments.yaml"),
                           "--set", f"output_dir={out}", *args], capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "WANDB_MODE": "disabled"})
    states = [json.loads(p.read_text())["state"] for p in out.glob("*/runs/*/status.json")]
    return {"rc": proc.returncode, "seconds": time.perf_counter() - t0, "jobs": len(states),
            "done": states.count("done"), "tail": (proc.stdout + proc.stderr)[-600:]}


def cuda_tests() -> dict:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests/test_spp_fast.py"), str(ROOT / "tests/test_lrn.py"),
                           "-k", "cuda"], capture_output=True, text=True, cwd=ROOT)
    return {"rc": proc.returncode, "summary": proc.stdout.strip().splitlines()[-1:]}


def run(device: str, quick: bool, runs: bool = True) -> dict:
    from spp_lab.runner.packing import estimate_job_bytes

    r: dict = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
               "torch": torch.__version__}
    if device == "cuda":
        r["cuda_tests"] = cuda_tests()
    r["matrix"] = train_matrix(device)
    with tempfile.TemporaryDirectory() as d:
        if runs:
            r["smoke"] = spp_lab_run(["--smoke"], Path(d) / "smoke", 600)
        if runs and not quick:
            r["grid"] = spp_lab_run([], Path(d) / "grid", 900)
    r["spp"] = spp_bench(device, quick)
    r["zf5_lrn"], r["zf5_bn"] = (zf5_speed(device, quick, bn) for bn in (False, True))
    from spp_lab.config import build_config

    cfg = build_config({"data": {"image_size": r["zf5_lrn"]["size"],
                                 "batch_size": r["zf5_lrn"]["batch"]},
                        "train": {"precision": "bf16-mixed"}})
    r["zf5_estimate_bytes"] = estimate_job_bytes(cfg)
    r["data"] = data_rate(quick, device)
    return r


def table(r: dict) -> str:
    ok = sum(m["ok"] for m in r["matrix"])
    lines = [f"gpu-check on {r['device']} (torch {r['torch']})", "",
             "| check | result | target |", "|---|---|---|"]
    if "cuda_tests" in r:
        lines.append(f"| CUDA tests | {' '.join(r['cuda_tests']['summary'])} | pass |")
    lines.append(f"| training switches on the device | {ok}/{len(r['matrix'])} train | all |")
    for m in r["matrix"]:
        if not m["ok"]:
            lines.append(f"| ✗ {m['case']} | {m['detail']} | |")
    if "smoke" in r:
        s = r["smoke"]
        lines.append(f"| default experiment --smoke | {s['done']}/{s['jobs']} jobs done, "
                     f"{s['seconds']:.0f} s | all done |")
    for row in r["spp"]:
        lines.append(f"| SPP fwd+bwd {row['shape']} {row['dtype']} {row['layout']} | "
                     f"{row['spp_ms']:.3f} / {row['bound_ms']:.3f} ms = {row['ratio']:.2f}× "
                     "the bound | ≤ 1.3× |")
    lrn, bn = r["zf5_lrn"], r["zf5_bn"]
    lines.append(f"| ZF-5 {lrn['size']} px batch {lrn['batch']}: LRN / batch norm img/s | "
                 f"{lrn['img_per_s']:.0f} / {bn['img_per_s']:.0f} = "
                 f"{lrn['img_per_s'] / bn['img_per_s']:.2f}× | ≥ 0.8× |")
    if lrn["peak_bytes"]:
        lines.append(f"| ZF-5 peak memory: measured / packing estimate | "
                     f"{lrn['peak_bytes'] / 2**30:.2f} / {r['zf5_estimate_bytes'] / 2**30:.2f} "
                     "GiB | estimate ≥ measured |")
    d = r["data"]
    need = lrn["img_per_s"] / d["cpu_worker_img_per_s"]
    lines.append(f"| JPEG decode+augment on the device (data.decode: device) | "
                 f"{d['device_decode_img_per_s']:.0f} img/s, one batch of 128 (16 quick) | |")
    lines.append("| JPEG decode+augment per CPU worker | "
                 f"{d['cpu_worker_img_per_s']:.0f} img/s: {need:.1f} workers feed ZF-5 "
                 f"({'data' if need > (os.cpu_count() or 1) - 2 else 'model'}-bound here) | |")
    if "grid" in r:
        g = r["grid"]
        lines.append(f"| default grid in full | {g['done']}/{g['jobs']} done in "
                     f"{g['seconds']:.0f} s | ≤ 90 s |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small shapes, no full grid")
    ap.add_argument("--no-runs", action="store_true",
                    help="skip the spp-lab runs (smoke and grid; the test suite runs those)")
    args = ap.parse_args()
    r = run(args.device, args.quick, runs=not args.no_runs)
    print(table(r))
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
