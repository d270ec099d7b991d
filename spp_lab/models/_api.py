"""A small model registry, like torchvision's ``models/_api.py`` (no torch import).

Builders register with ``@register_model("name", options=..., map_size=...)``:

* ``options``: the ``model.*`` switches the architecture uses (``width``, ``stem``,
  ``batchnorm``, ``fc_dim``, ``dropout``); the config refuses a non-default value of any
  other, so no switch is ever silently ignored. ``fixed`` names values an architecture has
  built in (ResNet-18's batch norm), which are accepted too.
* ``map_size(stem, size)``: the conv map's side for a ``size``-px input, or None where the
  trunk cannot take it; pure arithmetic, so every size a job will see is checked before
  it runs.

``get_model(name, **kwargs)`` builds one; an unknown name gets an error listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spp_lab.registry import Registry

SWITCHES = ("width", "stem", "batchnorm", "fc_dim", "dropout")


@dataclass(frozen=True)
class ArchSpec:
    name: str
    builder: Callable[..., Any]
    options: frozenset[str]
    map_size: Callable[[str, int], int | None]
    fixed: dict[str, Any] = field(default_factory=dict)


_MODELS: Registry[ArchSpec] = Registry("model")


def register_model(name: str, *, options: tuple[str, ...], map_size: Callable[[str, int],
                   int | None], fixed: dict[str, Any] | None = None
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    unknown = set(options) - set(SWITCHES)
    if unknown:
        raise ValueError(f"model {name!r}: unknown options {sorted(unknown)}; "
                         f"allowed: {', '.join(SWITCHES)}")

    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        _MODELS.add(name, ArchSpec(name, builder, frozenset(options), map_size, fixed or {}))
        return builder

    return wrap


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, in registration order."""
    return list(_MODELS)


def arch_spec(name: str) -> ArchSpec:
    return _MODELS.lookup(name)


def get_model(name: str, **kwargs: Any) -> Any:
    """Build the registered model ``name``; kwargs go to its builder."""
    return arch_spec(name).builder(**kwargs)
