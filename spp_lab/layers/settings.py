"""The pyramid's settings as a pydantic model (no torch): the one source of the SPP layer's
defaults. The run config's ``model.levels``, ``model.pool`` and ``model.bins`` are these
fields, and :func:`~spp_lab.layers.spp.spatial_pyramid_pool` takes its defaults from them.

    >>> PYRAMID.levels, PYRAMID.pool, PYRAMID.bins
    ((3, 2, 1), 'max', 'adaptive')
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from spp_lab.layers.bins import BIN_MODES
from spp_lab.layers.pools import POOL_TYPES

PosInt = Annotated[int, Strict(), Field(gt=0)]


class PyramidSettings(BaseModel):
    """What the pyramid pools: its levels, the pooling in each bin, the bin formula."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: tuple[PosInt, ...] = Field(
        (3, 2, 1), min_length=1, description=(
            "pyramid levels n (n×n bins each), finest first; (3, 2, 1) suits the 7×7 map of "
            "the defaults, the paper's (6, 3, 2, 1) a 13×13 one"))
    pool: Literal[POOL_TYPES] = Field(  # type: ignore[valid-type]
        "max", description="pooling in each bin (spp_lab/layers/pools.py)")
    bins: Literal[BIN_MODES] = Field(  # type: ignore[valid-type]
        "adaptive", description="bin formula: Appendix-A adaptive, or §2.3 window/stride")


PYRAMID = PyramidSettings()  # the defaults
