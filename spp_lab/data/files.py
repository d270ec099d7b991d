"""Splits of datasets held as image files (image folders, and torchvision's sets exported
to files): the held-out fractions, the fixed evaluation order, the file datasets.

Without a ``test/`` folder, ``data.test_fraction`` of each class is held out first, from
the whole folder (stratified, seeded); without a ``val/`` folder, ``round(n ·
val_fraction)`` images of the whole folder's ``n`` are then drawn at random (seeded) from
the rest for validation. The validation and test orders are shuffled with a fixed seed, so
a capped evaluation sees every class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from spp_lab.data.datasets import PILFolder, split_by_fraction, stratified_split
from spp_lab.data.splits import Splits

Files = tuple[list[Path], list[int]]


def _shuffled(files: list, labels: list, seed: int) -> Files:
    """A fixed (seeded) order, so a capped evaluation sees every class, not the first few."""
    perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    return [files[i] for i in perm], [labels[i] for i in perm]


def _take(files: Files, idx: list[int]) -> Files:
    return [files[0][i] for i in idx], [files[1][i] for i in idx]


def hold_out(c: Any, train: Files, val: Files | None, test: Files | None
             ) -> tuple[Files, Files, Files | None]:
    """(train, val, test) after the held-out fractions (module docstring)."""
    n = len(train[0])
    if test is None and c.test_fraction > 0:
        keep, held = stratified_split(train[1], c.test_fraction, c.seed)
        train, test = _take(train, keep), _take(train, held)
    if val is None:
        tr, va = split_by_fraction(len(train[0]), c.val_fraction, c.seed, n_val=max(
            1, round(n * c.val_fraction)))
        train, val = _take(train, tr), _take(train, va)
    return train, _shuffled(*val, c.seed), None if test is None else _shuffled(*test, c.seed)


def file_dataset(c: Any, files: Files, train: bool, train_seed: int,
                 view: str | int | None = None) -> PILFolder:
    """A split's dataset (:class:`~spp_lab.data.device_decode.JpegFolder` with ``decode:
    device``): training crops of ``image_size``, or the evaluation ``view``."""
    view = view if view is not None else ("full" if c.eval_mode == "full" else c.image_size)
    crop = c.image_size if train else (None if view == "full" else int(view))
    resize = c.resize or round(c.image_size * 8 / 7)
    if not train and crop != c.image_size:
        resize = c.image_size if crop is None else round(crop * 8 / 7)
    kind = PILFolder
    if c.decode == "device":
        from spp_lab.data.device_decode import JpegFolder

        kind = JpegFolder
    return kind(*files, resize=resize, crop=crop, train=train, flip=c.flip, seed=train_seed)


def file_splits(c: Any, train_seed: int, classes: list[str], train: Files,
                val: Files | None = None, test: Files | None = None,
                counts: dict[str, int] | None = None) -> Splits:
    """The :class:`Splits` of image files (``val``/``test`` None: held out of ``train``)."""
    train, val, test = hold_out(c, train, val, test)
    if c.skip_bad:
        from spp_lab.data.verify import drop_bad

        train, val, test, bad = drop_bad(c, train, val, test)
        counts = {**(counts or {}), "skipped_bad": bad}
    if c.decode == "device":
        from spp_lab.data.device_decode import check_jpegs

        check_jpegs([*train[0], *val[0], *(test[0] if test else [])])
    ds = lambda files, tr, view=None: file_dataset(c, files, tr, train_seed, view)  # noqa
    return Splits(ds(train, True), ds(val, False), None if test is None else ds(test, False),
                  classes, view=None if test is None else (lambda v: ds(test, False, v)),
                  counts=counts or {})
