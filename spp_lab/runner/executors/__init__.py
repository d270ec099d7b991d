"""Executors as plug-ins: a name → executor registry that also feeds ``--executor``.

An executor is a class with ``from_options(opts: RunOptions, jobs) -> executor`` and
``run(jobs) -> Outcome`` (:mod:`spp_lab.runner.executors.base`). To add one, write a module
here that decorates its class with ``@register_executor("name")`` and import it below;
heavy dependencies (ray, submitit) are imported inside ``run``, so ``spp-lab --help`` and
``ls`` stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spp_lab.registry import Registry

_EXECUTORS: Registry[Any] = Registry("executor")


def register_executor(name: str) -> Callable[[Any], Any]:
    return lambda cls: _EXECUTORS.add(name, cls)


def executor_names() -> list[str]:
    return list(_EXECUTORS)


def get_executor(name: str) -> Any:
    return _EXECUTORS.lookup(name)


from spp_lab.runner.executors import local, ray, slurm  # noqa: E402, F401  (register)
