"""Datasets as uint8 (3, H, W) tensors plus a size key, and the paper's augmentation.

Every dataset yields ``(image_uint8, label)``; normalisation happens on the device in the
LightningModule. ``sizes`` (one (H, W) per item, or None when all equal) lets a sampler
batch full-size images by size.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from spp_lab.checks import IMAGE_EXTS
from spp_lab.data.shapes import CLASSES, make_scenes, render
from spp_lab.errors import UserError


def random_crop_flip(img: Tensor, size: int, flip: bool, g: torch.Generator) -> Tensor:
    """A random ``size×size`` crop, flipped left-right with probability 1/2 if ``flip``."""
    h, w = img.shape[-2:]
    top = int(torch.randint(h - size + 1, (1,), generator=g))
    left = int(torch.randint(w - size + 1, (1,), generator=g))
    out = img[:, top : top + size, left : left + size]
    if flip and torch.rand((), generator=g) < 0.5:
        out = out.flip(-1)
    return out


class TensorImages(Dataset):
    """In-memory uint8 images of any sizes; train mode crops randomly (seeded per epoch)."""

    def __init__(self, images: list[Tensor], labels: list[int], crop: int | None = None,
                 flip: bool = False, seed: int = 0) -> None:
        self.images, self.labels = images, labels
        self.crop, self.flip, self.seed, self.epoch = crop, flip, seed, 0
        self.sizes = [tuple(img.shape[-2:]) for img in images]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        img = self.images[i]
        if self.crop is not None:
            g = torch.Generator().manual_seed(hash((self.seed, self.epoch, i)) & 0x7FFFFFFF)
            img = random_crop_flip(img, self.crop, self.flip, g)
        return img, self.labels[i]


def shapes_splits(image_size: int, resize: int, n_train: int, n_val: int, seed: int,
                  eval_mode: str, flip: bool, train_seed: int, n_test: int = 0,
                  ) -> tuple[Dataset, Dataset, Dataset | None, list]:
    """The embedded ``shapes`` data: train crops of ``resize``-px scenes; val and test
    (``None`` when ``n_test`` is 0) as centre crops or full images, per ``eval_mode``."""
    train = make_scenes(n_train, seed, "train")
    train_ds = TensorImages(render(train, resize), train.labels.tolist(), image_size, flip,
                            train_seed)

    def held_out(n: int, split: str) -> TensorImages:
        scenes = make_scenes(n, seed, split)
        imgs = render(scenes, resize, crop=image_size) if eval_mode == "crop" else render(
            scenes, image_size)
        return TensorImages(imgs, scenes.labels.tolist())

    test_ds = held_out(n_test, "test") if n_test else None
    return train_ds, held_out(n_val, "val"), test_ds, list(CLASSES)


class PILFolder(Dataset):
    """Image files with labels; resize shorter side, then random/centre crop or full image."""

    def __init__(self, files: list[Path], labels: list[int], *, resize: int,
                 crop: int | None, train: bool, flip: bool, seed: int = 0) -> None:
        self.files, self.labels = files, labels
        self.resize, self.crop, self.train, self.flip = resize, crop, train, flip
        self.seed, self.epoch, self._sizes = seed, 0, None

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, i: int) -> Tensor:
        from PIL import Image
        from torchvision.transforms.v2 import functional as TF

        with Image.open(self.files[i]) as im:
            img = TF.pil_to_tensor(im.convert("RGB"))
        return TF.resize(img, self.resize, antialias=True)

    @property
    def sizes(self) -> list[tuple[int, int]] | None:
        """Full-image sizes after the resize, read from file headers (full-image eval)."""
        if self.crop is not None:
            return None
        if self._sizes is None:
            from PIL import Image

            out = []
            for f in self.files:
                with Image.open(f) as im:
                    w, h = im.size
                s = self.resize / min(w, h)
                out.append((int(h * s) if h > w else self.resize,
                            int(w * s) if w > h else self.resize))
            self._sizes = out
        return self._sizes

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        img = self._load(i)
        if self.crop is None:
            return img, self.labels[i]
        if self.train:
            g = torch.Generator().manual_seed(hash((self.seed, self.epoch, i)) & 0x7FFFFFFF)
            return random_crop_flip(img, self.crop, self.flip, g), self.labels[i]
        h, w = img.shape[-2:]
        top, left = (h - self.crop) // 2, (w - self.crop) // 2
        return img[:, top : top + self.crop, left : left + self.crop], self.labels[i]


def scan_folder(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """``root/<class>/*.<image ext>`` → files, labels, class names (sorted)."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files, labels = [], []
    for k, name in enumerate(classes):
        for f in sorted((root / name).rglob("*")):
            if f.suffix.lower() in IMAGE_EXTS:
                files.append(f)
                labels.append(k)
    if not files:
        raise UserError(f"data.root: no images under {root}/<class>/ (extensions: "
                        f"{', '.join(IMAGE_EXTS)})")
    return files, labels, classes


def split_by_fraction(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded train/val split of ``range(n)``."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(n * fraction))
    return sorted(perm[n_val:]), sorted(perm[:n_val])
