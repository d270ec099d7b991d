"""Backbones: the SPP-net paper's architectures and torchvision ones, by name."""

from spp_lab.models import paper, tv  # noqa: F401  (register the builders)
from spp_lab.models._api import get_model, list_models, register_model
from spp_lab.models.heads import HEADS, make_head
from spp_lab.models.net import SPPNet

__all__ = ["HEADS", "SPPNet", "get_model", "list_models", "make_head", "register_model"]
