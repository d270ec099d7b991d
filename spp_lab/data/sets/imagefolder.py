"""``imagefolder``: ``data.root`` holds ``<class>/<image>`` files, or ``train/<class>/...``
and ``val/<class>/...``; a ``test/<class>/...`` folder is the test split. Hidden entries are
skipped and non-image files ignored and counted (:mod:`spp_lab.data.folder`); the held-out
fractions are :mod:`spp_lab.data.files`'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spp_lab.data.folder import (
    class_folders,
    decode,
    nested_root,
    require_classes,
    scan,
    walk_images,
)
from spp_lab.data.registry import data_root, register_dataset
from spp_lab.errors import UserError

SAMPLE = 16  # images of the whole folder that the pre-run check decodes


def _layout(root: Path) -> dict[str, Path]:
    """The folder's splits: ``{"train": root}``, or its ``train``/``val`` (and ``test``)."""
    parts = {"train": root}
    if (root / "train").is_dir() and (root / "val").is_dir():
        parts = {"train": root / "train", "val": root / "val"}
    if (root / "test").is_dir():
        parts["test"] = root / "test"
    return parts


def _quick(folder: Path, train_classes: list[str] | None) -> list[Path]:
    """The class folders' shape (two images each, at most) and a few of their images."""
    found = class_folders(folder)
    nested_root(folder, found)
    firsts = {c: walk_images(folder / c, limit=2) for c in found}
    require_classes(folder, found, [c for c, f in firsts.items() if not f],
                    two=train_classes is None)
    if train_classes is not None and set(found) - set(train_classes):
        raise UserError(f"data.root: {folder} has classes that train/ lacks: "
                        f"{sorted(set(found) - set(train_classes))[:5]}")
    return [f for files in firsts.values() for f in files]


def check(data: Any) -> None:
    """The layout, two images a class, and a sample of the images decoding (a full check
    of every image: ``spp-lab check-data``)."""
    parts = _layout(data_root(data))
    sample = _quick(parts["train"], None)
    classes = class_folders(parts["train"])
    for split in ("val", "test"):
        if split in parts:
            sample += _quick(parts[split], classes)
    for f in sample[:: max(1, len(sample) // SAMPLE)][:SAMPLE]:
        decode(f)


def files_of(data: Any) -> dict[str, Any]:
    """Every split's scan (``spp-lab check-data``)."""
    parts = _layout(data_root(data))
    out = {"train": scan(parts["train"])}
    for split in ("val", "test"):
        if split in parts:
            out[split] = scan(parts[split], out["train"].classes)
    return out


def census(data: Any) -> dict[str, dict[str, int]]:
    """Images per class of each split folder, as found (``check-data``)."""
    out = {}
    for split, s in files_of(data).items():
        counts = [0] * len(s.classes)
        for y in s.labels:
            counts[y] += 1
        out[split] = dict(zip(s.classes, counts))
    return out


def every_file(data: Any) -> list[Path]:
    return [f for s in files_of(data).values() for f in s.files]


def train_count(data: Any, enough: int) -> int | None:
    """The training split's size after the held-out fractions (:mod:`spp_lab.data.files`),
    reading no more file names than it takes to be sure of ``enough``; None where the folder
    is not readable here."""
    import math

    try:
        parts = _layout(data_root(data))
    except UserError:
        return None
    classes = class_folders(parts["train"])
    held = (0 if "test" in parts else data.test_fraction) + (
        0 if "val" in parts else data.val_fraction)
    limit = math.ceil((enough + len(classes) + 2) / (1 - held))
    counts: list[int] = []
    for name in classes:
        counts.append(len(walk_images(parts["train"] / name, limit=limit - sum(counts))))
        if sum(counts) >= limit:
            return enough  # at least that many train, whatever is held out
    n = sum(counts)
    if "test" not in parts and data.test_fraction > 0:
        counts = [c - (min(c - 1, max(1, round(data.test_fraction * c))) if c > 1 else 0)
                  for c in counts]
    left = sum(counts)
    if "val" not in parts:
        left -= min(max(1, round(n * data.val_fraction)), left - 1)
    return left


@register_dataset("imagefolder", classes=lambda data: None, needs_root=True, check=check,
                  device_decode=True, files=every_file, train_count=train_count, census=census,
                  uses=("root", "val_fraction", "test_fraction", "decode", "skip_bad"))
def load(data: Any, train_seed: int) -> Any:
    from spp_lab.data.files import file_splits

    scans = files_of(data)
    tr = scans["train"]
    pair = lambda s: (s.files, s.labels) if s is not None else None  # noqa: E731
    ignored = sum(len(s.ignored) for s in scans.values())
    if ignored:
        names = [p.name for s in scans.values() for p in s.ignored][:3]
        print(f"== data.root: ignored {ignored} files that are not images ({', '.join(names)}"
              + (", ..." if ignored > 3 else "") + ")")
    return file_splits(data, train_seed, tr.classes, pair(tr), pair(scans.get("val")),
                       pair(scans.get("test")), counts={"ignored": ignored})
