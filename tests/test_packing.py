"""GPU packing without a GPU: the memory estimate on the meta device against a count on
real tensors, the packing rule, and jobs_per_gpu honoured by the local executor."""

from __future__ import annotations

import json
from datetime import datetime

import torch

from spp_lab.config import build_config
from spp_lab.models import build_net
from spp_lab.runner.devices import GPU, jobs_per_gpu, pack_count
from spp_lab.runner.packing import CONTEXT_BYTES, activation_elements, estimate_job_bytes
from tests.conftest import spp_lab, tiny_experiment

CFG = {"model": {"stem": "small", "width": 0.25, "batchnorm": True, "fc_dim": 512,
                 "levels": [4, 2, 1]},
       "data": {"image_size": 40, "batch_size": 64}, "train": {"sizes": [40, 32],
                                                              "precision": "32-true"}}


def test_meta_device_count_equals_a_count_on_real_tensors():
    cfg = build_config(CFG)
    params, acts = activation_elements(cfg, batch=4, side=40)
    net = build_net(cfg.model, num_classes=10, image_size=40)
    seen = []
    for m in net.modules():
        if not list(m.children()):
            m.register_forward_hook(lambda mod, i, o: seen.append(o.numel()))
    net(torch.zeros(4, 3, 40, 40))
    assert params == sum(p.numel() for p in net.parameters())
    assert acts == sum(seen) > 0


def test_estimate_adds_context_weights_optimizer_and_activations():
    cfg = build_config(CFG)
    params, acts = activation_elements(cfg, 64, 40)  # the largest training size
    assert cfg.train.optimizer == "adamw"  # weights, grads and two moments: 4 per parameter
    assert estimate_job_bytes(cfg) == CONTEXT_BYTES + params * 4 * 4 + 2 * acts * 4
    half = build_config({**CFG, "train": {**CFG["train"], "precision": "bf16-mixed",
                                          "optimizer": "sgd"}})  # momentum: 3 per parameter
    assert estimate_job_bytes(half) == CONTEXT_BYTES + params * 4 * 3 + 2 * acts * 2


def test_pack_count_is_memory_then_cores_then_jobs():
    gib = 1 << 30
    assert pack_count(2 * gib, 80 * gib, 16, 100) == 16  # cores bound
    assert pack_count(10 * gib, 80 * gib, 16, 100) == 6  # ⌊0.85·80/10⌋
    assert pack_count(100 * gib, 80 * gib, 16, 100) == 1  # at least one
    assert pack_count(1 * gib, 80 * gib, 16, 3) == 3  # no more slots than jobs


def test_auto_jobs_per_gpu_uses_the_smallest_gpu_and_the_largest_job():
    class Job:
        def __init__(self, rid, cfg):
            self.run_id, self.config = rid, cfg

    small = build_config(CFG)
    big = build_config({**CFG, "data": {"image_size": 96, "batch_size": 256}})
    gpus = [GPU("0", "A", 81559, 9.0), GPU("1", "B", 24000, 8.6)]
    jobs = [Job("a", small), Job("b", big)]
    expect = pack_count(estimate_job_bytes(big), 24000 << 20, 16 // 2, 2)
    assert jobs_per_gpu(gpus, jobs, cores=16) == expect
    assert jobs_per_gpu([GPU("5")], jobs, cores=16) == 1  # memory unknown: one at a time


def test_jobs_per_gpu_packs_jobs_on_each_gpu(tmp_path):
    path = tiny_experiment(tmp_path / "p.yaml", tmp_path / "results", n=256, epochs=2,
                           rest="seeds: [0, 1, 2, 3]\njobs_per_gpu: 2\n")
    proc = spp_lab("run", str(path), "--gpus", "5,7", cwd=tmp_path,
                   env={"CUDA_VISIBLE_DEVICES": "5,7"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = [json.loads(p.read_text()) for p in (tmp_path / "results/p/runs").glob(
        "*/status.json")]
    assert sorted(s["visible_devices"] for s in status) == ["5", "5", "7", "7"]
    t = lambda s: datetime.fromisoformat(s)  # noqa: E731
    spans = [(t(s["started"]), t(s["ended"]), s["visible_devices"]) for s in status]
    overlap = lambda a, b: a[0] < b[1] and b[0] < a[1]  # noqa: E731
    same_gpu = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[2] == b[2]]
    assert any(overlap(a, b) for a, b in same_gpu), "two jobs shared a GPU at once"
