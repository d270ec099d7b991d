"""The Python API, for notebooks and scripts (importing it does not import torch):

    from spp_lab import run_experiment, load_runs, load_history, load_config

    runs = run_experiment("experiments.yaml", only=["model.arch=zf5"], workers=2)
    runs = load_runs("results/table2-mini")            # one row per run, as runs.csv
    hist = load_history("results/table2-mini")         # one row per run and epoch
    cfg = load_config("results/table2-mini/runs/<run_id>")   # the run's RunConfig

Errors in what you pass (a bad experiment file, a folder that is not an experiment) raise
:class:`spp_lab.errors.UserError` with the same message the command line prints. This
module and the command line (:mod:`spp_lab.commands`) share what lies below them
(:mod:`spp_lab.runner.study`, :func:`spp_lab.report.build.publish`); neither imports the
other.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from spp_lab.errors import UserError


def _override_texts(overrides: Mapping[str, Any] | Sequence[str] | None) -> list[str]:
    """``{"data.root": "/d"}`` or ``["data.root=/d"]`` → ``--set`` texts."""
    import json

    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}"
                for k, v in overrides.items()]
    return list(overrides)


def run_experiment(path: str | Path, *, only: Sequence[str] = (),
                   overrides: Mapping[str, Any] | Sequence[str] | None = None,
                   executor: str = "local", executor_options: Mapping[str, Any] | None = None,
                   smoke: bool = False, force: bool = False, retry_failed: bool = False,
                   dry_run: bool = False, report: bool = True, verbose: bool = True,
                   target: float | None = None, budget: int | str | None = None,
                   **settings: Any) -> pd.DataFrame:
    """Run the selected jobs of the experiment file not done yet, as ``spp-lab run`` does
    (report and W&B summary run included), and return their rows (:func:`load_runs`).

    ``only``: ``--only`` expressions; ``overrides``: keys of ``base`` (``--set``);
    ``executor_options`` or keywords (``workers=2``, ``partition="gpu"``): the executor's
    settings over the file's section (``--<executor> KEY=VALUE``). ``dry_run``: run nothing;
    return the jobs that would run (run_id, condition, seed, status). ``target``,
    ``budget``: add seeds until each change is resolved (``--target``, ``--budget``)."""
    from spp_lab import plugins
    from spp_lab.report.build import publish
    from spp_lab.runner.progress import Progress
    from spp_lab.runner.study import open_study, todo
    from spp_lab.runner.waves import run_options, run_study

    plugins.load()
    labels = ({k: f"run_experiment({k}=)" for k in settings}
              | {k: f"run_experiment(executor_options[{k!r}])" for k in executor_options or {}})
    study = open_study(str(path), smoke=smoke, overrides=_override_texts(overrides),
                       only=list(only), executor=executor, target=target, budget=budget,
                       options=dict(executor_options or {}) | settings, labels=labels)
    if dry_run:
        return _would_run(study, *todo(study, force, retry_failed))
    say = print if verbose else (lambda *_: None)
    progress = Progress(sys.stdout if verbose else None, live=False)
    out, study = run_study(study, run_options(study, progress), force=force,
                           retry_failed=retry_failed, say=say)
    if out.stopped:
        raise UserError(f"stopped: {out.stopped}", code=1)
    if report and not (out.interrupted or out.not_started):
        publish(study.folder.path, study.every_job[0].config.logging.wandb, say=say)
    runs = load_runs(study.folder.path)
    if "run_id" not in runs:
        return runs
    return runs[runs["run_id"].isin({j.run_id for j in study.jobs})].reset_index(drop=True)


def _would_run(study: Any, jobs: list, skipped: list) -> pd.DataFrame:
    """``dry_run``: the jobs that would run, as ``--dry-run`` lists them."""
    rows = [{"run_id": j.run_id, "condition": j.condition, "seed": j.seed,
             "status": study.states[j.run_id].state, **j.values} for j in jobs]
    return pd.DataFrame(rows, columns=None if rows else ["run_id", "condition", "seed",
                                                          "status"])


def load_runs(exp_dir: str | Path, current_only: bool = True) -> pd.DataFrame:
    """One row per run of ``results/<name>``: status, metrics, every config key."""
    from spp_lab.report.collect import collect

    return collect(exp_dir, current_only=current_only)


def load_history(exp_dir: str | Path, current_only: bool = True) -> pd.DataFrame:
    """One row per run and epoch (``history.csv`` of every run) with run_id, condition,
    seed, status and the run's swept keys; corrupt histories are left out."""
    from spp_lab.report.collect import collect_runs, with_runs

    runs, epochs = collect_runs(exp_dir, current_only)
    keep = [c for c in ("run_id", "condition", "seed", "status") if c in runs]
    out = with_runs(epochs, runs, keep) if "run_id" in runs else pd.DataFrame()
    return out if not out.empty else pd.DataFrame(columns=["run_id", "epoch"])


def load_config(run: str | Path):
    """The validated :class:`~spp_lab.config.RunConfig` of a run folder (or its
    ``config.yaml``)."""
    from spp_lab.config import load_run_folder_config

    return load_run_folder_config(run)
