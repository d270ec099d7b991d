"""``shapes``: the embedded, procedural scenes (:mod:`spp_lab.data.shapes`): 10 classes,
any resolution and aspect, deterministic per seed, nothing to download."""

from __future__ import annotations

from typing import Any

from spp_lab.data.registry import register_dataset
from spp_lab.data.scene_kinds import ASPECTS, CLASSES
from spp_lab.data.splits import Splits


def full_sides(data: Any) -> list[int]:
    """A whole scene's sides at shorter side ``image_size``, for every aspect."""
    s = data.image_size
    return sorted({s, *(round(s * a) for a in ASPECTS if a > 1),
                   *(round(s / a) for a in ASPECTS if a < 1)})


@register_dataset("shapes", classes=lambda data: len(CLASSES), full_sides=full_sides,
                  uses=("num_train", "num_val", "num_test", "resample", "scale", "gap"))
def load(data: Any, train_seed: int) -> Splits:
    """Training scenes (fresh every epoch with ``data.resample``), validation and test
    scenes in the ``eval_mode`` view."""
    from spp_lab.data.datasets import shapes_splits, shapes_view

    resize = data.resize or round(data.image_size * 8 / 7)
    train, val, test = shapes_splits(data, resize, train_seed)
    view = None if test is None else (lambda v: shapes_view(data, "test", v))
    return Splits(train, val, test, list(CLASSES), view=view)
