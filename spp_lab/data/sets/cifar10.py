"""``cifar10``: torchvision's copy under ``data.root`` (``data.download: true`` fetches it),
exported once to PNG files beside it and then read like an image folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spp_lab.data.registry import data_root, register_dataset
from spp_lab.errors import UserError


def check_root(data: Any) -> None:
    """The root exists (or will be downloaded into)."""
    root = data_root(data, must_exist=False)
    if not root.is_dir() and not data.download:
        raise UserError(f"data.root: {root} does not exist; put {data.name} there (or set "
                        "data.download: true)")


def export(ds: Any, folder: Path) -> tuple[list[Path], list[int]]:
    """``ds``'s images as PNG files under ``folder`` (written once), and their labels."""
    files, labels = [], []
    for i in range(len(ds)):
        f = folder / f"{i:06d}.png"
        img, label = ds[i]
        if not f.exists():
            f.parent.mkdir(parents=True, exist_ok=True)
            img.convert("RGB").save(f)
        files.append(f)
        labels.append(int(label))
    return files, labels


def torchvision_error(data: Any, root: Path, err: Exception) -> UserError:
    return UserError(f"data.root: {data.name} not found under {root} ({err}); put it there "
                     "or set data.download: true")


@register_dataset("cifar10", classes=lambda data: 10, needs_root=True, check=check_root,
                  downloads=True,
                  uses=("root", "download", "skip_bad"))
def load(data: Any, train_seed: int) -> Any:
    from torchvision import datasets

    from spp_lab.data.files import file_splits

    check_root(data)
    root = Path(data.root).expanduser()
    try:
        parts = {s: datasets.CIFAR10(str(root), train=s == "train", download=data.download)
                 for s in ("train", "val")}
    except RuntimeError as err:
        raise torchvision_error(data, root, err) from None
    cache = root / "spp_lab_cifar10"
    train, val = (export(parts[s], cache / s) for s in ("train", "val"))
    return file_splits(data, train_seed, list(parts["train"].classes), train, val)
