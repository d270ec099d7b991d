"""The layers' options by name, without torch: the run config builds its choice types from
these tuples, and the layers check their arguments against them. Adding an option means
adding its name here and its implementation beside the others (CONTRIBUTING.md). Heads are
not here: each registers itself (``spp_lab/models/heads/``)."""

from __future__ import annotations

from spp_lab.layers.bins import BIN_MODES
from spp_lab.layers.pools import POOL_TYPES  # pooling in each bin (one entry each)

STEMS = ("paper", "small")  # conv1 as in the paper, or 3×3 stride 1 (models/paper.py)

__all__ = ["BIN_MODES", "POOL_TYPES", "STEMS"]
