"""What a dataset's ``load`` returns: its splits, class names, and its test split in other
views (no torch at import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Splits:
    """``train`` (random crops), ``val`` (every epoch) and ``test`` (scored once; None
    without one) datasets; ``view(v)``: the test split in view ``v`` (``"full"`` or a side
    in px, ``data.test_views``); ``counts``: anything else worth recording with the split
    sizes (an image folder's ignored non-image files and skipped bad ones).

    Items are ``(image, label)``, ``label`` an int and ``image`` a ``(3, H, W)`` tensor:
    uint8 RGB pixels (0-255), which training, validation and test normalise alike with the
    backbone's mean and std; or a float tensor, which every stage takes as it is (already
    normalised). The training set is indexed by ``(index, epoch)``
    (:class:`spp_lab.data.module.EpochShuffle`), so its random crops can be seeded by both;
    the others by ``index``."""

    train: Any
    val: Any
    test: Any | None
    classes: list[str]
    view: Callable[[str | int], Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)
