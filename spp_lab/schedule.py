"""The multi-size training schedule: which input side each training batch gets (no torch
at import).

A pure function of (epoch, batch, sizes, kind, seed, epochs):

* ``epoch`` (the paper): one size per epoch, alternating, counted back from the last epoch;
* ``batch``: sizes in turn, batch by batch;
* ``random``: one size per epoch, drawn uniformly from ``[min(sizes), max(sizes)]`` with a
  generator seeded by (seed, epoch).

The last epoch (``tail``: the last ``train.test_size_epochs``) of the epoch and random
schedules trains at ``sizes[0]``, the test size: evaluated right after an epoch at another
size, a 40 px model measured 77% error after a 32 px epoch against 45% after a 40 px one
(batch-norm statistics and weights out of step with the test size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SIZE_SCHEDULES = ("epoch", "batch", "random")


@dataclass(frozen=True)
class SizeSchedule:
    sizes: tuple[int, ...]  # test size first
    kind: str  # one of SIZE_SCHEDULES
    seed: int
    epochs: int
    tail: int = 1  # the last epochs at the test size (epoch and random schedules)

    @classmethod
    def of(cls, sizes: Sequence[int], image_size: int, kind: str, seed: int,
           epochs: int, tail: int = 1) -> SizeSchedule:
        """The schedule of ``train.sizes`` (``[]`` = single-size at ``image_size``)."""
        return cls(tuple(sizes) or (image_size,), kind, seed, epochs, tail)

    @property
    def multi(self) -> bool:
        return len(set(self.sizes)) > 1

    def size(self, epoch: int, batch: int) -> int:
        """The training input side for batch ``batch`` of epoch ``epoch``."""
        sizes = self.sizes
        if len(sizes) == 1:
            return sizes[0]
        if self.kind == "batch":
            return sizes[batch % len(sizes)]
        last = self.epochs - self.tail  # the first epoch of the tail at the test size
        if epoch >= last:
            return sizes[0]
        if self.kind == "random":
            import torch

            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            return int(torch.randint(min(sizes), max(sizes) + 1, (1,), generator=g))
        return sizes[(last - epoch) % len(sizes)]

    def all_sizes(self) -> list[int]:
        """Every side a training batch can have (for the pre-run checks)."""
        if self.kind == "random" and self.multi:
            return list(range(min(self.sizes), max(self.sizes) + 1))
        return sorted(set(self.sizes))
