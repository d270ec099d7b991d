"""The LightningDataModule: any registered dataset (:mod:`spp_lab.data.registry`) behind
one config.

Training yields ``image_size`` crops (the paper: random 224 crops of images whose shorter
side is 256, flipped), in an order that is a function of (seed, epoch). Validation (every
epoch) and test (scored once, after training) yield centre crops or, with ``eval_mode:
full``, each image whole at shorter side ``image_size``, batched by size. The test split:
``shapes`` with ``num_test``; an image folder's ``test/`` folder, else a seeded stratified
``test_fraction`` of each class (:mod:`spp_lab.data.files`). ``test_views`` scores the
test split again in other views (the full image, other sizes). ``num_classes`` and the
split sizes come from here.
"""

from __future__ import annotations

from collections import defaultdict

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from spp_lab.data.device_decode import Encoded, JpegFolder, collate_for
from spp_lab.data.registry import dataset_spec
from spp_lab.data.settings import DataConfig
from spp_lab.data.splits import Splits
from spp_lab.errors import UserError


class EpochShuffle(Sampler[tuple[int, int]]):
    """A random order of ``range(n)`` that is a function of (seed, epoch): Lightning calls
    ``set_epoch`` each epoch, so a run resumed at epoch k sees the order an uninterrupted
    run sees there. It yields ``(index, epoch)``: the training crops and flips are seeded
    by both, and loader workers persist across epochs with a stale copy of the dataset."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return ((i, self.epoch) for i in torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class SizeBatchSampler(Sampler[list[int]]):
    """Batches of indices whose images share one (H, W), in a fixed order."""

    def __init__(self, sizes: list[tuple[int, int]], batch_size: int) -> None:
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, size in enumerate(sizes):
            groups[size].append(i)
        self.batches = [idx[k : k + batch_size] for _, idx in sorted(groups.items())
                        for k in range(0, len(idx), batch_size)]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _sizes(ds: Dataset) -> list[tuple[int, int]] | None:
    if isinstance(ds, Subset):
        inner = _sizes(ds.dataset)
        return None if inner is None else [inner[i] for i in ds.indices]
    return getattr(ds, "sizes", None)


def _collate(ds: Dataset):
    """The collate function of ``ds``: JPEG bytes stay bytes, anything else is stacked."""
    return collate_for(ds) if isinstance(ds, JpegFolder) else None


class SPPDataModule(pl.LightningDataModule):
    """The splits of ``cfg``'s dataset (its registered ``load``) behind Lightning's loaders."""

    def __init__(self, cfg: DataConfig, train_seed: int = 0) -> None:
        super().__init__()
        self.cfg, self.train_seed = cfg, train_seed
        self.splits: Splits | None = None

    @property
    def batch_size(self) -> int:
        """``data.batch_size``, ``auto`` resolved from the training split's size (a run's
        config has it resolved already)."""
        from spp_lab.data.batch import batch_for

        b = self.cfg.batch_size
        return batch_for(len(self.train_ds)) if b == "auto" else b

    @property
    def train_ds(self) -> Dataset:
        return self._splits().train

    @property
    def val_ds(self) -> Dataset:
        return self._splits().val

    @property
    def test_ds(self) -> Dataset | None:
        return self._splits().test

    @property
    def classes(self) -> list[str]:
        return self._splits().classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def counts(self) -> dict[str, int]:
        """Images in each split, and what the dataset counted besides (an image folder's
        ignored and skipped files): what ``metrics.json`` and ``runs.csv`` record."""
        s = self._splits()
        return {"train": len(s.train), "val": len(s.val),
                "test": len(s.test) if s.test is not None else 0, **s.counts}

    def _splits(self) -> Splits:
        if self.splits is None:
            self.splits = dataset_spec(self.cfg.name).load(self.cfg, self.train_seed)
        return self.splits

    def setup(self, stage: str | None = None) -> None:
        self._splits()

    def train_dataloader(self) -> DataLoader:
        self.setup()
        fresh = self.cfg.resample  # new scenes each epoch: workers must not keep old copies
        return DataLoader(self.train_ds, self.batch_size, collate_fn=_collate(self.train_ds),
                          sampler=EpochShuffle(len(self.train_ds), self.train_seed),
                          drop_last=len(self.train_ds) > self.batch_size,
                          num_workers=self.cfg.num_workers,
                          persistent_workers=self.cfg.num_workers > 0 and not fresh)

    @property
    def has_test(self) -> bool:
        self.setup()
        return self.test_ds is not None

    def val_dataloader(self) -> DataLoader:
        self.setup()
        return self._eval_loader(self.val_ds)

    def test_dataloader(self) -> DataLoader:
        self.setup()
        if self.test_ds is None:
            raise UserError("data: no test split (shapes: num_test; image folders: a test/ "
                            "folder or test_fraction)")
        return self._eval_loader(self.test_ds)

    def test_view_loader(self, view: str | int) -> DataLoader:
        """The test split in another view: ``"full"`` or a size in px (``test_views``)."""
        s = self._splits()
        if s.view is None:
            raise UserError(f"data: {self.cfg.name} has no test split to view at {view}")
        return self._eval_loader(s.view(view))

    def _eval_loader(self, ds: Dataset) -> DataLoader:
        sizes = _sizes(ds)
        if sizes is not None and len(set(sizes)) > 1:
            return DataLoader(ds, batch_sampler=SizeBatchSampler(sizes, self.batch_size),
                              num_workers=self.cfg.num_workers, collate_fn=_collate(ds))
        return DataLoader(ds, self.batch_size, num_workers=self.cfg.num_workers,
                          collate_fn=_collate(ds))

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        """``decode: device``: the JPEG bytes decoded straight onto the training device."""
        if isinstance(batch, Encoded):
            trainer = self.trainer
            return batch.decode(trainer.strategy.root_device if trainer else
                                torch.device("cpu"))
        return batch
