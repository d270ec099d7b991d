"""``global``: global pooling to 1×1 (any input size), width ``C`` (``2C`` for
``catavgmax``)."""

from __future__ import annotations

from typing import Any

from spp_lab.layers.pools import spp_output_width
from spp_lab.models._api import register_head


@register_head("global", uses=("pool",),
               width=lambda channels, m: spp_output_width(channels, (1,), m.pool))
def build(model: Any, channels: int, map_size: tuple[int, int], train_size: int) -> Any:
    """One bin over the whole map, pooled by ``model.pool``."""
    from spp_lab.layers.spp import SpatialPyramidPool2d

    return SpatialPyramidPool2d((1,), model.pool, "adaptive")
