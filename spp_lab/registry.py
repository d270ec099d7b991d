"""A name → object table for the plug-in points (backbones, executors), without torch.

Registering a name twice is an error; an unknown name's error lists the valid ones.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """``Registry("model")``: ``add(name, obj)``, ``lookup(name)``; iterates in
    registration order."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def add(self, name: str, obj: T) -> T:
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self[name] = obj
        return obj

    def lookup(self, name: str) -> T:
        try:
            return self[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; valid {self.kind}s: "
                             f"{', '.join(sorted(self))}") from None
