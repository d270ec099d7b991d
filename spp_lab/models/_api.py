"""A small model registry, like torchvision's ``models/_api.py``.

Builders register with ``@register_model("name")``; ``get_model(name, **kwargs)`` builds one
and an unknown name gets an error that lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MODELS: dict[str, Callable[..., Any]] = {}


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = builder
        return builder

    return wrap


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, sorted."""
    return sorted(_MODELS)


def get_model(name: str, **kwargs: Any) -> Any:
    """Build the registered model ``name``; kwargs go to its builder."""
    try:
        builder = _MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid models: {', '.join(list_models())}") from None
    return builder(**kwargs)
