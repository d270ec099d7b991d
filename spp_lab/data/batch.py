"""``data.batch_size: auto`` (no torch): a batch that leaves enough optimizer steps an epoch.

    auto = 64, or, for a dataset whose training split would give fewer than 10 batches
           of 64 (a small image folder), the largest of 32, 16 and 8 that gives 10 (else 8)

With too few steps an epoch, training barely moves and batch norm's running statistics
(momentum 0.1) never settle, so a model that fits its training batches scores near chance
in eval mode: 180 images in batches of 64 are 2 steps an epoch, 16 gives 11. The size comes
from the dataset (an image folder counts its training split, reading at most about a
thousand file names) and is resolved before the run id, so the run's config says what ran.
"""

from __future__ import annotations

from typing import Any

DEFAULT = 64  # images per batch where the data is large enough
MIN_STEPS = 10  # optimizer steps an epoch that auto keeps, down to...
SMALLEST = 8  # ...batches of 8


def batch_for(n_train: int | None) -> int:
    """The ``auto`` batch for ``n_train`` training images (None: unknown, 64)."""
    batch = DEFAULT
    while n_train is not None and batch > SMALLEST and n_train // batch < MIN_STEPS:
        batch //= 2
    return batch


def resolve_batch(data: Any) -> Any:
    """``data`` with ``batch_size: auto`` made concrete (the dataset's training count where
    it knows it; 64 where the data is not readable here)."""
    if data.batch_size != "auto":
        return data
    from spp_lab.data.registry import dataset_spec

    spec = dataset_spec(data.name)
    n = spec.train_count(data, DEFAULT * MIN_STEPS) if spec.train_count else None
    return data.model_copy(update={"batch_size": batch_for(n)})
