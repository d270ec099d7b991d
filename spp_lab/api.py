"""The Python API, for notebooks and scripts (importing it does not import torch):

    from spp_lab import run_experiment, load_runs, load_history, load_config

    runs = run_experiment("experiments.yaml", only=["model.arch=zf5"], workers=2)
    runs = load_runs("results/table2-mini")            # one row per run, as runs.csv
    hist = load_history("results/table2-mini")         # one row per run and epoch
    cfg = load_config("results/table2-mini/runs/<run_id>")   # the run's RunConfig

Errors in what you pass (a bad experiment file, a folder that is not an experiment) raise
:class:`spp_lab.errors.UserError` with the same message the command line prints.
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
                   executor: str = "local", smoke: bool = False, force: bool = False,
                   retry_failed: bool = False, workers: int | None = None,
                   gpus: str | None = None, address: str | None = None,
                   slurm: Sequence[str] = (), report: bool = True,
                   verbose: bool = True) -> pd.DataFrame:
    """Run every job of the experiment file not done yet (as ``spp-lab run``) and return
    the runs DataFrame (:func:`load_runs`). ``only``: ``--only`` expressions; ``overrides``:
    keys of ``base`` to set; the rest as the command's flags."""
    from spp_lab.runner.executors.base import RunOptions
    from spp_lab.runner.plan import plan, run_plan
    from spp_lab.runner.progress import Progress

    p = plan(str(path), smoke=smoke, overrides=_override_texts(overrides), only=list(only),
             executor=executor, gpus=gpus)
    from spp_lab.commands import slurm_settings

    opts = RunOptions(retries=p.exp.retries, workers=workers or p.exp.workers, gpus=gpus,
                      jobs_per_gpu=p.exp.jobs_per_gpu, address=address,
                      slurm=slurm_settings(p.exp, list(slurm)), source=str(path),
                      progress=Progress(sys.stdout if verbose else None, live=False))
    out = run_plan(p, executor, opts, force=force, retry_failed=retry_failed)
    if out.stopped:
        raise UserError(f"stopped: {out.stopped}", code=1)
    if report and not out.interrupted:
        from spp_lab.report.build import write_report

        write_report(p.folder.path)
    return load_runs(p.folder.path)


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
    from spp_lab.config import build_config
    from spp_lab.fileio import Corrupt
    from spp_lab.runfolder import RunFolder

    path = Path(run)
    given_yaml = path.name == "config.yaml"  # read that file, edits and all
    folder = RunFolder(path.parent if given_yaml else path)
    try:
        data = folder.read_config(fast=not given_yaml)
    except Corrupt as err:
        raise UserError(str(err)) from None
    if not data:
        raise UserError(f"{folder.config}: no such file; give a run folder "
                        "(results/<name>/runs/<run_id>)")
    return build_config(data, str(folder.config))
