"""Datasets as uint8 (3, H, W) tensors plus a size key, and the paper's augmentation.

Every dataset yields ``(image_uint8, label)``; normalisation happens on the device in the
LightningModule. ``sizes`` (one (H, W) per item, or None when all equal) lets a sampler
batch full-size images by size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from spp_lab.data.shapes import make_scenes, render


def random_crop_flip(img: Tensor, size: int, flip: bool, g: torch.Generator) -> Tensor:
    """A random ``size×size`` crop, flipped left-right with probability 1/2 if ``flip``."""
    h, w = img.shape[-2:]
    top = int(torch.randint(h - size + 1, (1,), generator=g))
    left = int(torch.randint(w - size + 1, (1,), generator=g))
    out = img[:, top : top + size, left : left + size]
    if flip and torch.rand((), generator=g) < 0.5:
        out = out.flip(-1)
    return out


def split_key(key: int | tuple[int, int]) -> tuple[int, int]:
    """(index, epoch) of a sample key: the (index, epoch) pair the training sampler yields,
    or an index alone (epoch 0; evaluation has no randomness). The epoch travels with the
    index, so a loader worker that outlives an epoch (``persistent_workers``, with its own
    copy of the dataset) crops for the right one."""
    return key if isinstance(key, tuple) else (key, 0)


class TensorImages(Dataset):
    """In-memory uint8 images of any sizes; train mode crops randomly (seeded per epoch)."""

    def __init__(self, images: list[Tensor], labels: list[int], crop: int | None = None,
                 flip: bool = False, seed: int = 0) -> None:
        self.images, self.labels = images, labels
        self.crop, self.flip, self.seed = crop, flip, seed
        self.sizes = [tuple(img.shape[-2:]) for img in images]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, int]:
        i, epoch = split_key(key)
        img = self.images[i]
        if self.crop is not None:
            g = torch.Generator().manual_seed(hash((self.seed, epoch, i)) & 0x7FFFFFFF)
            img = random_crop_flip(img, self.crop, self.flip, g)
        return img, self.labels[i]


class FreshScenes(Dataset):
    """``data.resample``: ``n`` new training scenes every epoch, drawn per (data seed,
    epoch), so no scene is seen twice; epoch 0's are the fixed set's."""

    def __init__(self, n: int, seed: int, resize: int, crop: int, flip: bool, train_seed: int,
                 scale: tuple[float, float], gap: tuple[float, float]) -> None:
        self.n, self.seed, self.resize, self.scale, self.gap = n, seed, resize, scale, gap
        self.crop, self.flip, self.train_seed = crop, flip, train_seed
        self._drawn = None

    def __len__(self) -> int:
        return self.n

    def _images(self, epoch: int) -> TensorImages:
        if self._drawn is None or self._drawn[0] != epoch:
            sc = make_scenes(self.n, self.seed, "train", epoch=epoch, scale=self.scale,
                             gap=self.gap)
            ds = TensorImages(render(sc, self.resize), sc.labels.tolist(), self.crop,
                              self.flip, self.train_seed)
            self._drawn = (epoch, ds)
        return self._drawn[1]

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, int]:
        i, epoch = split_key(key)
        return self._images(epoch)[i, epoch]


def shapes_splits(c, resize: int, train_seed: int) -> tuple[Dataset, Dataset, Dataset | None]:
    """The embedded ``shapes`` data of DataConfig ``c``: train crops of ``resize``-px scenes
    (new ones every epoch with ``resample``); val and test (``None`` when ``num_test`` is 0)
    in the ``eval_mode`` view."""
    scale, gap = tuple(c.scale), tuple(c.gap)
    if c.resample:
        train_ds: Dataset = FreshScenes(c.num_train, c.seed, resize, c.image_size, c.flip,
                                        train_seed, scale, gap)
    else:
        train = make_scenes(c.num_train, c.seed, "train", scale=scale, gap=gap)
        train_ds = TensorImages(render(train, resize), train.labels.tolist(), c.image_size,
                                c.flip, train_seed)
    view = "full" if c.eval_mode == "full" else c.image_size
    test = shapes_view(c, "test", view) if c.num_test else None
    return train_ds, shapes_view(c, "val", view), test


def shapes_view(c, split: str, view: str | int) -> TensorImages:
    """The held-out scenes of ``split`` in one view: ``"full"``, each scene whole at shorter
    side ``image_size``; a size ``s``, the centre ``s×s`` crop of the scene rendered at
    shorter side ``s·8/7`` (the training view, at another scale)."""
    n = c.num_test if split == "test" else c.num_val
    scenes = make_scenes(n, c.seed, split, scale=tuple(c.scale), gap=tuple(c.gap))
    if view == "full":
        imgs = render(scenes, c.image_size)
    else:
        side = int(view)
        resize = c.resize if side == c.image_size and c.resize else round(side * 8 / 7)
        imgs = render(scenes, resize, crop=side)
    return TensorImages(imgs, scenes.labels.tolist())


@dataclass(frozen=True)
class View:
    """How a decoded image becomes a sample: its shorter side resized to ``resize``, then a
    ``crop``×``crop`` crop, random and maybe flipped in training (seeded by seed, epoch
    and index), centred otherwise; ``crop`` None: the whole image."""

    resize: int
    crop: int | None
    train: bool
    flip: bool
    seed: int = 0

    def __call__(self, img: Tensor, i: int, epoch: int) -> Tensor:
        from torchvision.transforms.v2 import functional as TF

        img = TF.resize(img, self.resize, antialias=True)
        if self.crop is None:
            return img
        if self.train:
            g = torch.Generator().manual_seed(hash((self.seed, epoch, i)) & 0x7FFFFFFF)
            return random_crop_flip(img, self.crop, self.flip, g)
        h, w = img.shape[-2:]
        top, left = (h - self.crop) // 2, (w - self.crop) // 2
        return img[:, top : top + self.crop, left : left + self.crop]


class PILFolder(Dataset):
    """Image files with labels, decoded with PIL and cut to samples by a :class:`View`."""

    def __init__(self, files: list[Path], labels: list[int], *, resize: int,
                 crop: int | None, train: bool, flip: bool, seed: int = 0) -> None:
        self.files, self.labels = files, labels
        self.view = View(resize, crop, train, flip, seed)
        self._sizes = None

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, i: int) -> Tensor:
        from torchvision.transforms.v2 import functional as TF

        from spp_lab.data.folder import decode

        return TF.pil_to_tensor(decode(self.files[i]))

    @property
    def sizes(self) -> list[tuple[int, int]] | None:
        """Full-image sizes after the resize, read from file headers (full-image eval)."""
        if self.view.crop is not None:
            return None
        if self._sizes is None:
            from PIL import Image

            out, r = [], self.view.resize
            for f in self.files:
                with Image.open(f) as im:
                    w, h = im.size
                s = r / min(w, h)
                out.append((int(h * s) if h > w else r, int(w * s) if w > h else r))
            self._sizes = out
        return self._sizes

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, int]:
        i, epoch = split_key(key)
        return self.view(self._load(i), i, epoch), self.labels[i]


def split_by_fraction(n: int, fraction: float, seed: int, n_val: int | None = None
                      ) -> tuple[list[int], list[int]]:
    """A seeded (kept, held out) split of ``range(n)``: ``n_val`` held out (default
    ``max(1, round(n · fraction))``)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(n * fraction)) if n_val is None else min(n_val, n - 1)
    return sorted(perm[n_val:]), sorted(perm[:n_val])


def stratified_split(labels: list[int], fraction: float, seed: int
                     ) -> tuple[list[int], list[int]]:
    """(kept, held out) indices: ``round(fraction · n_c)`` of each class held out (at least
    one where the class has two or more images), chosen by a seeded permutation."""
    g = torch.Generator().manual_seed(seed * 31 + 7)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    keep, held = [], []
    for y in sorted(by_class):
        idx = by_class[y]
        perm = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
        k = min(len(idx) - 1, max(1, round(fraction * len(idx)))) if len(idx) > 1 else 0
        held += perm[:k]
        keep += perm[k:]
    return sorted(keep), sorted(held)
