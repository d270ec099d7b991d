"""Pool types: how each bin's values become numbers, as combinations of the two pyramids
the layer computes (max and average over each bin). No torch at import: the config reads
the names from here.

    max        the bin's maximum                            width C·Σn²
    avg        the bin's mean (divided by its own area)     width C·Σn²
    avgmax     (avg + max) / 2                              width C·Σn²
    catavgmax  the avg pyramid, then the max pyramid        width 2·C·Σn²

A new pool type is one entry: ``name: (combine, width factor)``, where ``combine`` gets a
function ``pyramid(kind)`` returning the (N, C·Σn²) max or avg pyramid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Pyramid = Callable[[str], Any]  # "max" | "avg" → (N, C·Σn²) tensor


def _catavgmax(p: Pyramid) -> Any:
    import torch

    return torch.cat([p("avg"), p("max")], dim=1)


POOLS: dict[str, tuple[Callable[[Pyramid], Any], int]] = {
    "max": (lambda p: p("max"), 1),
    "avg": (lambda p: p("avg"), 1),
    "avgmax": (lambda p: 0.5 * (p("avg") + p("max")), 1),
    "catavgmax": (_catavgmax, 2),
}
POOL_TYPES = tuple(POOLS)


def spp_output_width(channels: int, levels: Sequence[int], pool: str) -> int:
    """Width of the SPP vector: ``C · Σ n²`` times the pool type's factor (2 for
    ``catavgmax``).

    >>> spp_output_width(256, (6, 3, 2, 1), "max"), spp_output_width(8, (2, 1), "catavgmax")
    (12800, 80)
    """
    return channels * sum(n * n for n in levels) * POOLS[pool][1]
