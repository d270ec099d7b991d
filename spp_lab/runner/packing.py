"""One training job's GPU memory, estimated on torch's meta device (no GPU, no real memory).

    peak ≈ context + params · (weights + grads + optimizer state) + 2 · activations

``activations`` sums every leaf module's output for one batch at the largest training size
(what autograd keeps for the backward pass, and as much again for its temporaries), at 2
bytes an element under bf16/fp16 autocast, 4 otherwise; ``context`` (CUDA context, cuDNN
workspaces, the allocator's slack) is a measured constant. :func:`spp_lab.runner.devices.
jobs_per_gpu` packs jobs by it; ``make gpu-check`` prints it beside the measured peak.
"""

from __future__ import annotations

from spp_lab.config import DataConfig, RunConfig

CONTEXT_BYTES = 700 << 20
OPTIMIZER_STATES = {"sgd": 1, "adamw": 2}  # tensors per parameter besides weight and grad


def classes_of(data: DataConfig) -> int:
    """The class count, without reading the data where the dataset knows it; else the
    class folders under the root; 1000 where the data is not here."""
    from pathlib import Path

    from spp_lab.data.folder import class_folders
    from spp_lab.data.registry import dataset_spec

    known = dataset_spec(data.name).classes(data)
    if known is not None:
        return known
    root = Path(data.root or ".")
    root = root / "train" if (root / "train").is_dir() else root
    return len(class_folders(root)) or 1000


def activation_elements(cfg: RunConfig, batch: int, side: int) -> tuple[int, int]:
    """(parameters, activation elements of one forward pass) of ``cfg``'s network."""
    import torch

    from spp_lab.models import build_net

    with torch.device("meta"):
        net = build_net(cfg.model, num_classes=classes_of(cfg.data),
                        image_size=cfg.data.image_size, load_weights=False)
        total = [0]

        def hook(module, inputs, output) -> None:
            if torch.is_tensor(output):
                total[0] += output.numel()

        leaves = [m for m in net.modules() if not list(m.children())]
        handles = [m.register_forward_hook(hook) for m in leaves]
        try:
            net(torch.empty(batch, 3, side, side))
        finally:
            for h in handles:
                h.remove()
    return sum(p.numel() for p in net.parameters()), total[0]


def estimate_job_bytes(cfg: RunConfig) -> int:
    """The estimated peak GPU memory of training ``cfg`` (bytes)."""
    side = max(cfg.schedule.sizes)
    params, acts = activation_elements(cfg, cfg.data.batch_size, side)
    half = cfg.train.precision in ("bf16-mixed", "16-mixed")
    per_param = 4 * (2 + OPTIMIZER_STATES[cfg.train.optimizer])
    return CONTEXT_BYTES + params * per_param + 2 * acts * (2 if half else 4)
