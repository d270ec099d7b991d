"""The ``spp-lab`` subcommands: thin handlers over the library (the top layer), one module
per group; :mod:`spp_lab.cli` imports a handler only when its command runs.

Each handler takes the parsed ``argparse`` namespace, prints, and returns the exit code;
anything heavy (torch for ``train``) is imported inside the handler that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"cmd_train": "train", "cmd_ls": "grid", "cmd_run": "grid",
          "cmd_check_data": "data", "cmd_report": "results", "cmd_export": "results",
          "cmd_export_sweep": "results", "cmd_sync": "results", "cmd_models": "models"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"spp_lab.commands.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'spp_lab.commands' has no attribute {name!r}")
