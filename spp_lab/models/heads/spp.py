"""``spp``: a spatial pyramid (any input size), width ``C · Σ n²`` (twice that for
``catavgmax``)."""

from __future__ import annotations

from typing import Any

from spp_lab.layers.bins import paper_valid_levels, paper_window
from spp_lab.layers.pools import spp_output_width
from spp_lab.models._api import register_head


def _check(model: Any, map_side: int, input_side: int) -> str | None:
    if model.bins != "paper":
        return None
    bad = [n for n in model.levels if paper_window(map_side, n) is None]
    if not bad:
        return None
    return (f"model.levels: bins='paper' cannot make {bad[0]}×{bad[0]} bins from the "
            f"{map_side}×{map_side} conv map of {input_side}-px inputs; levels that work "
            f"there: {paper_valid_levels(map_side)}; or model.bins: adaptive")


@register_head("spp", uses=("levels", "pool", "bins"), check=_check,
               width=lambda channels, m: spp_output_width(channels, m.levels, m.pool))
def build(model: Any, channels: int, map_size: tuple[int, int], train_size: int) -> Any:
    """The pyramid of ``model.levels``, ``model.pool`` and ``model.bins``."""
    from spp_lab.layers.spp import SpatialPyramidPool2d

    return SpatialPyramidPool2d(model.levels, model.pool, model.bins)
