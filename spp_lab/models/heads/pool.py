"""``pool``: the paper's no-SPP baseline, one pool5 whose window is fixed at the training
size to ``k×k`` bins (``model.pool5_bins``), width ``C·k²``; fixed-size."""

from __future__ import annotations

from typing import Any

from spp_lab.layers.bins import fixed_window
from spp_lab.models._api import register_head


def _check(model: Any, map_side: int, input_side: int) -> str | None:
    k = model.pool5_bins
    if fixed_window(map_side, k) is not None:
        return None
    return (f"model.pool5_bins: head='pool' cannot make {k}×{k} bins from the {map_side}-"
            f"pixel conv map of {input_side}-px inputs; use pool5_bins ≤ {map_side}, a larger "
            "data.image_size, or head='spp'")


@register_head("pool", uses=("pool", "pool5_bins"), fixed_size=True, pools=("max", "avg"),
               check=_check, width=lambda channels, m: channels * m.pool5_bins ** 2)
def build(model: Any, channels: int, map_size: tuple[int, int], train_size: int) -> Any:
    """pool5 fit to the conv map at the training size."""
    from spp_lab.layers.fixed_pool import FixedPool2d

    return FixedPool2d(map_size, model.pool5_bins, model.pool, train_size)
