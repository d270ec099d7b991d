"""The executor registry: name → (class, settings schema); the package docstring says how
to add an executor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from spp_lab.registry import Registry
from spp_lab.schema import StrictModel

if TYPE_CHECKING:
    from spp_lab.runner.executors.base import Executor

E = TypeVar("E")

SHORTHAND = {"shorthand": True}  # json_schema_extra of a field that is also a flag


class NoSettings(StrictModel):
    """An executor without settings."""


@dataclass(frozen=True)
class ExecutorSpec:
    name: str
    cls: Callable[..., Executor]  # built with the run's options and its settings
    settings: type[BaseModel]

    def shorthands(self) -> list[str]:
        """The settings that are also flags and top-level keys of an experiment file."""
        return [k for k, f in self.settings.model_fields.items()
                if (f.json_schema_extra or {}).get("shorthand")]


_EXECUTORS: Registry[ExecutorSpec] = Registry("executor")


def register_executor(name: str, settings: type[BaseModel] = NoSettings
                      ) -> Callable[[E], E]:
    """Class decorator: run jobs with ``--executor NAME``, configured by ``settings``."""
    def add(cls: E) -> E:
        taken = {k: s.name for s in _EXECUTORS.values() for k in s.shorthands()}
        spec = ExecutorSpec(name, cls, settings)
        clash = [f"{k!r} (of {taken[k]})" for k in spec.shorthands() if k in taken]
        if clash:
            raise ValueError(f"executor {name!r}: shorthand {', '.join(clash)} is taken")
        _EXECUTORS.add(name, spec)
        return cls
    return add


def executor_names() -> list[str]:
    return list(_EXECUTORS)


def executor_spec(name: str) -> ExecutorSpec:
    return _EXECUTORS.lookup(name)


def get_executor(name: str) -> Callable[..., Executor]:
    return _EXECUTORS.lookup(name).cls


def shorthand_owner() -> dict[str, str]:
    """Shorthand setting → the executor it belongs to."""
    return {k: s.name for s in _EXECUTORS.values() for k in s.shorthands()}
