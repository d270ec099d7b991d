"""Plug-ins: modules that register heads, datasets, metrics, backbones or executors.

A plug-in is an importable module whose top level calls the registries' decorators
(``register_head``, ``register_dataset``, ``register_measure``, ``register_model``,
``register_executor``). spp-lab imports the ones named in ``SPP_LAB_PLUGINS``
(comma-separated module names) and those a package declares under the entry-point group
``spp_lab.plugins``, once per process: the command line before it parses anything, the
Python API on its first call, and every job process (the runner hands its plug-ins on, so
a Ray task or a Slurm job registers the same names).
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

from spp_lab.errors import UserError

ENV = "SPP_LAB_PLUGINS"
GROUP = "spp_lab.plugins"
_loaded: list[str] = []


def _named() -> list[str]:
    names = [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]
    return names + [ep.value for ep in entry_points(group=GROUP)]


def load(names: list[str] | None = None) -> list[str]:
    """Import the plug-ins (``names``, else the environment's and the entry points') not
    imported yet; returns every plug-in loaded in this process."""
    for name in _named() if names is None else names:
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise UserError(f"{ENV}: cannot import plug-in {name!r} ({err}); put its folder "
                            "on PYTHONPATH or install its package") from None
        _loaded.append(name)
    return list(_loaded)
