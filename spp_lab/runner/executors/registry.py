"""The executor registry: a name → (class, settings schema) table (see the package).

An executor is a class with ``from_options(opts: RunOptions, jobs) -> executor`` and
``run(jobs) -> Outcome`` (:mod:`spp_lab.runner.executors.base`), registered with the
pydantic model of its settings::

    class ToySettings(StrictModel):
        delay_s: Num = Field(0.0, description="seconds to wait before each job")

    @register_executor("toy", settings=ToySettings)
    class ToyExecutor: ...

Everything else comes from the schema: the experiment file's ``toy:`` section, the
command line's ``--toy KEY=VALUE`` (``--executor toy``), and the API's
``run_experiment(..., executor="toy", delay_s=1.0)``. A field marked ``SHORTHAND``
(``json_schema_extra=SHORTHAND``) is also a flag of its own (``--workers 2``) and a
top-level key of the experiment file (``workers: 2``). Heavy dependencies (ray, submitit)
are imported inside ``run``, so ``spp-lab --help`` and ``ls`` stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from spp_lab.registry import Registry
from spp_lab.schema import StrictModel

SHORTHAND = {"shorthand": True}  # json_schema_extra of a field that is also a flag


class NoSettings(StrictModel):
    """An executor without settings."""


@dataclass(frozen=True)
class ExecutorSpec:
    name: str
    cls: Any
    settings: type[BaseModel]

    def shorthands(self) -> list[str]:
        """The settings that are also flags and top-level keys of an experiment file."""
        return [k for k, f in self.settings.model_fields.items()
                if (f.json_schema_extra or {}).get("shorthand")]


_EXECUTORS: Registry[ExecutorSpec] = Registry("executor")


def register_executor(name: str, settings: type[BaseModel] = NoSettings
                      ) -> Callable[[Any], Any]:
    """Class decorator: run jobs with ``--executor NAME``, configured by ``settings``."""
    def add(cls: Any) -> Any:
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


def get_executor(name: str) -> Any:
    return _EXECUTORS.lookup(name).cls


def shorthand_owner() -> dict[str, str]:
    """Shorthand setting → the executor it belongs to."""
    return {k: s.name for s in _EXECUTORS.values() for k in s.shorthands()}
