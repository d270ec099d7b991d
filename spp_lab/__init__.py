"""spp-lab: ablation studies of spatial pyramid pooling (SPP-net) and any other CNN switch.

    from spp_lab import run_experiment, load_runs, load_history, load_config

(:mod:`spp_lab.api`; importing the package does not import torch.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_config", "load_history", "load_runs", "run_experiment"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from spp_lab import api

        return getattr(api, name)
    raise AttributeError(f"module 'spp_lab' has no attribute {name!r}")
