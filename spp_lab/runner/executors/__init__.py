"""Executors as plug-ins: a name → (class, settings schema) registry.

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

from spp_lab.runner.executors import local, ray, slurm  # noqa: E402, F401, I001  (register)
from spp_lab.runner.executors.registry import (
    SHORTHAND,
    ExecutorSpec,
    NoSettings,
    executor_names,
    executor_spec,
    get_executor,
    register_executor,
    shorthand_owner,
)

__all__ = ["SHORTHAND", "ExecutorSpec", "NoSettings", "executor_names", "executor_spec",
           "get_executor", "register_executor", "shorthand_owner"]
