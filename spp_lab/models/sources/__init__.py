"""The built-in backbone sources, one file each (:func:`spp_lab.models.catalog.register_source`):
torchvision's classification networks by their names, timm's as ``timm/<name>``. A new
library is one more file like these, imported here or loaded as a plug-in."""

from spp_lab.models.sources import timm_source, torchvision_source  # noqa: F401  (register)
