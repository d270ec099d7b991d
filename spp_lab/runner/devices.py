"""GPUs on this machine, read without torch: ids, memory and compute capability.

``CUDA_VISIBLE_DEVICES`` when set, else ``nvidia-smi``'s list. A GPU named only by
``CUDA_VISIBLE_DEVICES`` (no ``nvidia-smi``) has unknown memory and capability.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from spp_lab.config import RunConfig
from spp_lab.errors import UserError


@dataclass(frozen=True)
class GPU:
    id: str
    name: str = "?"
    memory_mib: int | None = None
    compute_capability: float | None = None

    @property
    def bf16(self) -> bool:
        """Ampere (8.0) and newer run bf16 matmuls natively."""
        return self.compute_capability is not None and self.compute_capability >= 8.0


def _nvidia_smi() -> list[GPU]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total,compute_cap",
             "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4 and parts[0].isdigit():
            mem = int(parts[2]) if parts[2].isdigit() else None
            try:
                cap = float(parts[3])
            except ValueError:
                cap = None
            gpus.append(GPU(parts[0], parts[1], mem, cap))
    return gpus


def visible_gpus() -> list[GPU]:
    """The GPUs this process may use."""
    listed = {g.id: g for g in _nvidia_smi()}
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return list(listed.values())
    ids = [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    return [listed.get(i, GPU(i)) for i in ids]


def choose_gpus(flag: str | None) -> list[GPU]:
    """``--gpus 0,1`` checked against the visible GPUs; None: all of them."""
    visible = visible_gpus()
    if flag is None:
        return visible
    want = [g.strip() for g in flag.split(",") if g.strip()]
    known = {g.id: g for g in visible}
    bad = [g for g in want if g not in known]
    if bad or not want:
        have = ", ".join(known) if known else "none (no nvidia-smi, CUDA_VISIBLE_DEVICES unset)"
        raise UserError(f"--gpus {flag}: no GPU {', '.join(bad) or '(empty list)'} on this "
                        f"machine; GPUs: {have}")
    return [known[g] for g in want]


def resolve_gpus(flag: str | None) -> list[GPU]:
    """The GPUs a local run uses: ``--gpus`` checked, else every visible one."""
    return choose_gpus(flag)


def jobs_per_gpu(gpus: list[GPU], jobs: list, cores: int | None = None) -> int:
    """Jobs to pack on each GPU when the experiment does not say: as many as fit in 85% of
    the smallest GPU's memory at the largest job's estimated peak (:mod:`.packing`), and no
    more than the CPU cores per GPU (each job's training loop needs a core)."""
    from spp_lab.runner.executors.base import cpu_count

    if not gpus or not jobs or any(g.memory_mib is None for g in gpus):
        return 1
    from spp_lab.runner.packing import estimate_job_bytes

    peak = max(estimate_job_bytes(cfg) for cfg in {j.run_id: j.config for j in jobs}.values())
    return pack_count(peak, min(g.memory_mib for g in gpus) << 20,
                      (cores or cpu_count()) // len(gpus), len(jobs))


def pack_count(job_bytes: int, gpu_bytes: int, cores_per_gpu: int, n_jobs: int) -> int:
    """``min(⌊0.85 · gpu / job⌋, cores per GPU, jobs)``, at least 1."""
    return max(1, min(int(0.85 * gpu_bytes // max(job_bytes, 1)), cores_per_gpu, n_jobs))


def resolve_auto(cfg: RunConfig, gpus: list[GPU]) -> RunConfig:
    """The config's ``auto`` values made concrete before its run id is computed:
    ``data.batch_size`` (:mod:`spp_lab.data.batch`), and ``train.precision`` for where the
    job will run: ``bf16-mixed`` when every GPU it may get has bf16, else ``32-true``."""
    from spp_lab.data.batch import resolve_batch

    if cfg.data.batch_size == "auto":
        cfg = cfg.model_copy(update={"data": resolve_batch(cfg.data)})
    if cfg.train.precision != "auto":
        return cfg
    on_gpu = bool(gpus) and cfg.train.accelerator != "cpu" and all(g.bf16 for g in gpus)
    return cfg.model_copy(update={"train": cfg.train.model_copy(
        update={"precision": "bf16-mixed" if on_gpu else "32-true"})})
