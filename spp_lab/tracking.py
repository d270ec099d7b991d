"""Weights & Biases: one run per job, grouped by experiment and condition; offline-first.

Mode: ``logging.wandb.mode`` in the config, else ``WANDB_MODE``, else ``online``; online
without credentials (no ``WANDB_API_KEY``, no netrc entry) falls back to ``offline`` and
says so once. A job's W&B run id derives from its run id, so a retried or resumed job
continues the same W&B run; ``--force`` removes a run's earlier offline folders. W&B files go
under ``results/<experiment>/wandb``. Any W&B
failure only warns: the training run and its local results carry on.
"""

from __future__ import annotations

import netrc
import os
import re
import sys
from pathlib import Path
from typing import Any

from spp_lab.config import RunConfig, WandbConfig, flatten
from spp_lab.errors import warn


def _warn_once(msg: str) -> None:
    warn(msg)


def _has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators(os.environ.get("WANDB_BASE_URL", "api.wandb.ai")
                                            .split("//")[-1].split("/")[0])
        return auth is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(cfg: WandbConfig, where: str | Path = "results/<experiment>") -> str:
    """The W&B mode for runs whose experiment folder is ``where`` (named in the warning)."""
    mode = cfg.mode or os.environ.get("WANDB_MODE") or "online"
    if mode in ("dryrun",):
        mode = "offline"
    if mode == "online" and not _has_credentials():
        _warn_once("W&B: no credentials (WANDB_API_KEY or `wandb login`); logging offline. "
                   f"Upload later with: spp-lab sync {where}")
        mode = "offline"
    return mode if mode in ("online", "offline", "disabled") else "disabled"


def wandb_id(experiment: str, rid: str) -> str:
    """A W&B run id from the experiment and run id (allowed characters only)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{experiment}-{rid}")[:64]


def run_tags(cfg: RunConfig, condition: str) -> list[str]:
    m = cfg.model
    from spp_lab.models import head_spec

    uses = head_spec(m.head).uses
    tags = [condition, m.arch, m.head, *(f"{k}={m.pool if k == 'pool' else m.bins}"
                                         for k in ("pool", "bins") if k in uses),
            "multi-size" if len(set(cfg.train_sizes)) > 1 else "single-size"]
    if "levels" in uses:
        tags.append("levels=" + "-".join(map(str, m.levels)))
    return list(dict.fromkeys(tags + list(cfg.logging.wandb.tags)))[:64]


def wandb_dir(cfg: RunConfig) -> Path:
    """``results/<experiment>/wandb``: W&B writes its run folders straight into it."""
    from spp_lab.results import ExperimentFolder

    return ExperimentFolder.of(cfg).wandb_dir


def forget_offline_runs(wdir: Path, experiment: str, rid: str) -> int:
    """Remove a run's earlier offline W&B folders (``--force`` starts the run afresh, so
    ``spp-lab sync`` must not upload the old ones under the same id); returns how many."""
    import shutil

    gone = 0
    for d in (*wdir.glob(f"offline-run-*-{wandb_id(experiment, rid)}"),
              *wdir.glob(f"wandb/offline-run-*-{wandb_id(experiment, rid)}")):
        shutil.rmtree(d, ignore_errors=True)
        gone += 1
    return gone


def make_logger(cfg: RunConfig, rid: str, condition: str, extra: dict[str, Any]):
    """A Lightning WandbLogger for this job, or None (disabled, or W&B failed: warned)."""
    wdir = wandb_dir(cfg)
    mode = resolve_mode(cfg.logging.wandb, wdir.parent)
    if mode == "disabled":
        return None
    try:
        wdir.mkdir(parents=True, exist_ok=True)
        w = cfg.logging.wandb
        config = flatten(cfg.model_dump(mode="json")) | {"run_id": rid} | extra
        from spp_lab.wandb_logger import SafeWandbLogger

        logger = SafeWandbLogger(
            name=rid, id=wandb_id(cfg.experiment, rid), project=w.project, entity=w.entity,
            save_dir=str(wdir.parent), group=cfg.experiment, job_type=condition,
            tags=run_tags(cfg, condition), config=config, mode=mode, resume="allow",
            settings_kwargs={"silent": True})
        _ = logger.experiment  # start the run now, so a failure shows here
        return logger
    except Exception as err:  # noqa: BLE001  (W&B must never fail a training run)
        _warn_once(f"W&B disabled for this run: {type(err).__name__}: {err}")
        return None


def abort(logger, why: str) -> None:
    """An interrupted or failed attempt: flush and close its W&B run, so the epochs it
    logged are in its offline file; the resumed attempt continues the same run id."""
    if logger is None:
        return
    try:
        run = logger.experiment
        run.summary["stopped"] = why
        run.finish(exit_code=1)
    except Exception as err:  # noqa: BLE001
        _warn_once(f"W&B could not close the run: {err}")


def finish(logger, metrics: dict[str, Any]) -> dict[str, Any]:
    """Final and best values into the run summary; returns what the run object says."""
    if logger is None:
        return {}
    try:
        run = logger.experiment
        summary = {f"final/{k}": v for k, v in metrics["final"].items()}
        summary |= {f"best/{k}": v for k, v in metrics["best"].items()}
        summary |= {k: metrics[k] for k in ("params", "train_img_per_s", "flops_per_image")
                    if k in metrics}
        summary |= {f"val_{k[4:]}" if k.startswith("val_") else k: v for k, v in
                    metrics["final"].items()}  # runs.csv's names: a sweep's metric
        summary |= {k: v for k, v in metrics.get("test", {}).items() if v is not None}
        run.summary.update(summary)
        # the real split sizes (an image folder's, not the shapes defaults)
        run.config.update({f"data.num_{k}": v for k, v in (metrics.get("data") or {}).items()}
                          | {f"input.{k}": v for k, v in (metrics.get("input") or {}).items()},
                          allow_val_change=True)
        config = dict(run.config)
        keep = ("run_id", "config_hash", "git_commit", "experiment_file", "experiment",
                "model.arch", "model.head", "model.levels", "train.sizes", "train.seed")
        info = {"id": run.id, "group": run.group, "job_type": run.job_type,
                "tags": list(run.tags), "dir": str(run.dir), "mode": run.settings.mode,
                "config_keys": len(config), "config": {k: config.get(k) for k in keep}}
        run.finish()
        return info
    except Exception as err:  # noqa: BLE001
        _warn_once(f"W&B could not finish the run: {err}")
        return {}


def sync_offline(folder) -> int:
    """``spp-lab sync results/<name>``: ``wandb sync`` every offline run of the experiment."""
    import subprocess

    from spp_lab.errors import UserError

    root = folder.wandb_dir
    found = sorted(root.glob("offline-run-*")) + sorted(
        root.glob("wandb/offline-run-*"))  # folders of spp-lab before 0.2
    runs = [str(p) for p in found if _has_records(p)]
    if len(runs) < len(found):
        print(f"sync: skipping {len(found) - len(runs)} offline runs with nothing logged")
    if not runs:
        raise UserError(f"sync: no offline W&B runs with data under {root}")
    if not _has_credentials():
        raise UserError(f"sync: no W&B credentials (set WANDB_API_KEY or run `wandb login`); "
                        f"the {len(runs)} runs stay offline in {root}")
    from spp_lab.network import reachable

    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    if not reachable(host, timeout=10):
        raise UserError(f"sync: {host} cannot be reached (no network?); the {len(runs)} runs "
                        f"stay offline in {root}: run `spp-lab sync {folder.path}` again when "
                        "online")
    wandb_bin = Path(sys.executable).with_name("wandb")  # the venv's script
    cmd = [str(wandb_bin) if wandb_bin.exists() else "wandb", "sync", *runs]
    print(f"sync: {len(runs)} offline runs")
    return subprocess.call(cmd)


def _has_records(run_dir: Path) -> bool:
    """An offline run folder whose ``.wandb`` file holds more than its 7-byte header."""
    return any(f.stat().st_size > 7 for f in run_dir.glob("*.wandb"))


def sweep_config(exp: Any, source: str, jobs: list) -> dict[str, Any]:
    """A W&B sweep (``method: grid``) over the experiment's conditions, seeds and grid,
    whose runs call ``spp-lab train --experiment FILE condition=... seed=... key=value``:
    each agent run is one job of the file, with its run id, run folder and W&B group. A
    file with ``zip`` sweeps its run ids instead (zipped keys are not a cartesian grid);
    combinations the file excludes fail at once with exit 2."""
    params: dict[str, Any] = {}
    if not isinstance(exp.seeds, list):
        from spp_lab.errors import UserError

        raise UserError(f"{source}: seeds is a rule ({exp.seeds.text()}); a W&B sweep cannot "
                        "decide between waves. Run it with `spp-lab run`, which logs every "
                        "job to W&B, or give seeds as a list")
    if exp.zip:
        params["run_id"] = {"values": [j.run_id for j in jobs]}
    else:
        conditions = list(dict.fromkeys(j.condition for j in jobs))
        if conditions != ["default"]:
            params["condition"] = {"values": conditions}
        params["seed"] = {"values": list(exp.seeds)}
        params |= {k: {"values": list(v)} for k, v in exp.grid.items()}
    return {"name": exp.name, "description": exp.description or exp.name, "method": "grid",
            "metric": {"name": exp.report.metric, "goal": "minimize"},
            "parameters": params,
            "command": ["${env}", "spp-lab", "train", "--experiment", str(source),
                        "${args_no_hyphens}"]}  # as given: an agent runs in its own folder
