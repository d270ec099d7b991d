"""The LightningDataModule: shapes, imagefolder, cifar10, caltech101 behind one config.

Training yields ``image_size`` crops (the paper: random 224 crops of images whose shorter
side is 256, flipped), in an order that is a function of (seed, epoch). Validation (every
epoch) and test (scored once, after training) yield centre crops or, with ``eval_mode:
full``, each image whole at shorter side ``image_size``, batched by size. The test split:
``shapes`` with ``num_test``; an image folder's ``test/`` folder, else a seeded stratified
``test_fraction`` of its images. ``test_views`` scores the test split again in other views
(the full image, other sizes). ``num_classes`` and the split sizes come from here.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from spp_lab.config import DataConfig
from spp_lab.data.datasets import (
    PILFolder,
    scan_folder,
    shapes_splits,
    shapes_view,
    split_by_fraction,
    stratified_split,
)
from spp_lab.data.device_decode import Encoded, JpegFolder, check_jpegs, collate_for
from spp_lab.data.shapes import CLASSES
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


def _shuffled(files: list, labels: list, seed: int) -> tuple[list, list]:
    """A fixed (seeded) order, so a capped evaluation sees every class, not the first few."""
    perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    return [files[i] for i in perm], [labels[i] for i in perm]


class SPPDataModule(pl.LightningDataModule):
    def __init__(self, cfg: DataConfig, train_seed: int = 0) -> None:
        super().__init__()
        self.cfg, self.train_seed = cfg, train_seed
        self.resize = cfg.resize or round(cfg.image_size * 8 / 7)
        self.train_ds: Dataset | None = None
        self.val_ds: Dataset | None = None
        self.test_ds: Dataset | None = None
        self.classes: list[str] = []
        self._test_files: tuple[list, list] | None = None

    @property
    def num_classes(self) -> int:
        if not self.classes:
            self.setup()
        return len(self.classes)

    @property
    def counts(self) -> dict[str, int]:
        """Images in each split: what ``metrics.json`` and ``runs.csv`` record."""
        self.setup()
        return {"train": len(self.train_ds), "val": len(self.val_ds),
                "test": len(self.test_ds) if self.test_ds is not None else 0}

    def setup(self, stage: str | None = None) -> None:
        if self.train_ds is not None:
            return
        if self.cfg.name == "shapes":
            self.train_ds, self.val_ds, self.test_ds = shapes_splits(
                self.cfg, self.resize, self.train_seed)
            self.classes = list(CLASSES)
        else:
            self._setup_files()

    def _root(self) -> Path:
        if not self.cfg.root:
            raise UserError(f"data.root: required for data.name={self.cfg.name!r}; "
                            "set it to the dataset folder")
        root = Path(self.cfg.root).expanduser()
        if not root.is_dir() and not self.cfg.download:
            raise UserError(f"data.root: {root} does not exist; put {self.cfg.name} there "
                            "(or set data.download: true for torchvision's copy)")
        return root

    def _folder(self, files, labels, train: bool, view: str | int | None = None) -> PILFolder:
        """A split's dataset (:class:`JpegFolder` with ``decode: device``)."""
        c = self.cfg
        view = view if view is not None else ("full" if c.eval_mode == "full" else
                                              c.image_size)
        crop = c.image_size if train else (None if view == "full" else int(view))
        if train or crop == c.image_size:
            resize = self.resize
        else:
            resize = c.image_size if crop is None else round(crop * 8 / 7)
        kind = JpegFolder if c.decode == "device" else PILFolder
        return kind(files, labels, resize=resize, crop=crop, train=train, flip=c.flip,
                    seed=self.train_seed)

    def _setup_files(self) -> None:
        c, root = self.cfg, self._root()
        if c.name == "imagefolder":
            if (root / "train").is_dir() and (root / "val").is_dir():
                tf, tl, self.classes = scan_folder(root / "train")
                vf, vl, _ = scan_folder(root / "val", self.classes)
            else:
                files, labels, self.classes = scan_folder(root)
                tr, va = split_by_fraction(len(files), c.val_fraction, c.seed)
                tf, tl = [files[i] for i in tr], [labels[i] for i in tr]
                vf, vl = [files[i] for i in va], [labels[i] for i in va]
            test = (scan_folder(root / "test", self.classes)[:2]
                    if (root / "test").is_dir() else None)
        else:
            tf, tl, vf, vl = self._torchvision_files(root)
            test = None
        if test is None and c.test_fraction > 0:
            keep, held = stratified_split(tl, c.test_fraction, c.seed)
            test = ([tf[i] for i in held], [tl[i] for i in held])
            tf, tl = [tf[i] for i in keep], [tl[i] for i in keep]
        vf, vl = _shuffled(vf, vl, c.seed)
        if c.decode == "device":
            check_jpegs([*tf, *vf, *(test[0] if test else [])])
        self.train_ds, self.val_ds = self._folder(tf, tl, True), self._folder(vf, vl, False)
        if test is not None:
            self._test_files = _shuffled(*test, c.seed)
            self.test_ds = self._folder(*self._test_files, False)

    def _torchvision_files(self, root: Path):
        """cifar10/caltech101 through torchvision, exported once to image files."""
        from torchvision import datasets

        c = self.cfg
        cache = root / f"spp_lab_{c.name}"
        try:
            if c.name == "cifar10":
                parts = {s: datasets.CIFAR10(str(root), train=s == "train", download=c.download)
                         for s in ("train", "val")}
                self.classes = list(parts["train"].classes)
            else:
                full = datasets.Caltech101(str(root), download=c.download)
                self.classes = list(full.categories)
                tr, va = split_by_fraction(len(full), c.val_fraction, c.seed)
                parts = {"train": Subset(full, tr), "val": Subset(full, va)}
        except RuntimeError as err:
            raise UserError(f"data.root: {c.name} not found under {root} ({err}); put it there "
                            "or set data.download: true") from None
        out = []
        for split, ds in parts.items():
            files, labels = [], []
            for i in range(len(ds)):
                f = cache / split / f"{i:06d}.png"
                img, label = ds[i]
                if not f.exists():
                    f.parent.mkdir(parents=True, exist_ok=True)
                    img.convert("RGB").save(f)
                files.append(f)
                labels.append(int(label))
            out += [files, labels]
        return out

    def train_dataloader(self) -> DataLoader:
        self.setup()
        fresh = self.cfg.resample  # new scenes each epoch: workers must not keep old copies
        return DataLoader(self.train_ds, self.cfg.batch_size, collate_fn=_collate(self.train_ds),
                          sampler=EpochShuffle(len(self.train_ds), self.train_seed),
                          drop_last=len(self.train_ds) > self.cfg.batch_size,
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
        self.setup()
        if self.cfg.name == "shapes":
            return self._eval_loader(shapes_view(self.cfg, "test", view))
        return self._eval_loader(self._folder(*self._test_files, False, view=view))

    def _eval_loader(self, ds: Dataset) -> DataLoader:
        sizes = _sizes(ds)
        if sizes is not None and len(set(sizes)) > 1:
            return DataLoader(ds, batch_sampler=SizeBatchSampler(sizes, self.cfg.batch_size),
                              num_workers=self.cfg.num_workers, collate_fn=_collate(ds))
        return DataLoader(ds, self.cfg.batch_size, num_workers=self.cfg.num_workers,
                          collate_fn=_collate(ds))

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        """``decode: device``: the JPEG bytes decoded straight onto the training device."""
        if isinstance(batch, Encoded):
            trainer = self.trainer
            return batch.decode(trainer.strategy.root_device if trainer else
                                torch.device("cpu"))
        return batch
