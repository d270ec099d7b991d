"""Pooling layers: spatial pyramid pooling and its bin formulas."""

from spp_lab.layers.spp import (
    POOL_TYPES,
    SpatialPyramidPool2d,
    spatial_pyramid_pool,
    spp_output_width,
)

__all__ = ["POOL_TYPES", "SpatialPyramidPool2d", "spatial_pyramid_pool", "spp_output_width"]
