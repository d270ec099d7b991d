"""``caltech101``: torchvision's copy under ``data.root`` (``data.download: true`` fetches
it), exported once to PNG files; ``data.val_fraction`` (and ``data.test_fraction``) of it
held out as for an image folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spp_lab.data.registry import register_dataset
from spp_lab.data.sets.cifar10 import check_root, export, torchvision_error


@register_dataset("caltech101", classes=lambda data: 101, needs_root=True, check=check_root,
                  downloads=True,
                  uses=("root", "download", "val_fraction", "test_fraction", "skip_bad"))
def load(data: Any, train_seed: int) -> Any:
    from torchvision import datasets

    from spp_lab.data.files import file_splits

    check_root(data)
    root = Path(data.root).expanduser()
    try:
        full = datasets.Caltech101(str(root), download=data.download)
    except RuntimeError as err:
        raise torchvision_error(data, root, err) from None
    files = export(full, root / "spp_lab_caltech101" / "all")
    return file_splits(data, train_seed, list(full.categories), files)
