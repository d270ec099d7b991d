"""Run identity and self-describing run folders (no torch import).

A run id is a short stable hash of the resolved run config: the same config gives the same
id on any machine, whatever the key order. Fields that cannot change the numbers (where
results go, logging, CPU threads, loader workers) are left out of the hash.

Folder ``results/<experiment>/runs/<run_id>/`` holds ``config.yaml`` (and the same as
``config.json``), ``status.json``, ``metrics.json``, ``history.csv``, ``log.txt`` and
``checkpoints/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from spp_lab.config import RunConfig

_NOT_HASHED = ("experiment", "output_dir", "logging", "train.threads", "data.num_workers")
# Fields added after run ids were first published: hashed only when set away from these
# defaults, so every run folder made before they existed keeps its id.
ADDED_LATER = {"data.resample": False, "data.scale": [0.11, 0.24], "data.gap": [2.2, 2.8],
               "data.test_views": [],
               "data.test_fraction": 0.0, "train.ema": None, "data.decode": "cpu",
               "model.head_args": {}, "data.skip_bad": False, "model.pretrained": False,
               "model.weights": None, "train.backbone_lr": 1.0, "train.freeze_backbone": 0,
               "train.backbone_bn": "train", "train.bn_recalibrate": 0,
               "train.test_size_epochs": 1}


# Defaults changed since run ids were first published (0.2.0: a CPU-sized miniature). A
# field that the config's architecture or dataset does not read cannot change its numbers:
# at today's default it is hashed at the value of these, so no id of a config that never
# used the field changes with its default.
FROZEN_DEFAULTS = {"model.width": 1.0, "model.stem": "paper", "model.batchnorm": False,
                   "model.fc_dim": 4096, "model.dropout": 0.5, "data.num_train": 4000,
                   "data.num_val": 1000}

# Every default 0.2.0 changed, at its 0.1.0 value: a done run of a file that relied on one
# is found again by :func:`spp_lab.runner.study.old_default_note`, which names what to pin.
DEFAULTS_0_1_0 = FROZEN_DEFAULTS | {"model.levels": [6, 3, 2, 1], "model.pool5_bins": 6,
                                    "train.optimizer": "sgd", "train.lr": 0.01}

# Fields whose meaning changed for some values: where it applies the identity carries the
# revision, so a run made under the old meaning keeps its old id and is never taken for the
# new one (0.2.0: data.test_fraction is drawn from each class of the whole folder, first).
REVISED = {"data.test_fraction": ("stratified-whole-0.2.0", lambda v: v > 0)}


def _pop(tree: dict[str, Any], key: str) -> Any:
    *parents, leaf = key.split(".")
    node = tree
    for p in parents:
        node = node[p]
    return node.pop(leaf, None)


def identity(cfg: RunConfig) -> dict[str, Any]:
    """The part of the config that defines the computation. ``train.precision: auto`` must
    be resolved first (:func:`spp_lab.runner.devices.resolve_auto`): the id says what ran."""
    if "auto" in (cfg.train.precision, cfg.data.batch_size):
        raise ValueError("train.precision or data.batch_size is 'auto': resolve it for the "
                         "device and the data before computing a run id "
                         "(spp_lab.runner.devices.resolve_auto)")
    tree = cfg.model_dump(mode="json")
    for key in unused_fields(cfg) & FROZEN_DEFAULTS.keys():
        *parents, leaf = key.split(".")
        section, default = tree[parents[0]], _default(key)
        if section[leaf] == default:
            section[leaf] = FROZEN_DEFAULTS[key]
    for key in _NOT_HASHED:
        _pop(tree, key)
    for key, default in ADDED_LATER.items():
        value = _pop(tree, key)
        if value != default:
            *parents, leaf = key.split(".")
            node = tree
            for p in parents:
                node = node[p]
            node[leaf] = value
    if cfg.model.weights is not None:  # the file's content, not where it lies
        from spp_lab.models.weights import file_sha256

        tree["model"]["weights"] = file_sha256(cfg.model.weights)
    flat = cfg.model_dump(mode="json")
    revised = {key: tag for key, (tag, applies) in REVISED.items()
               if applies(_get(flat, key))}
    if revised:
        tree["revised"] = revised
    return tree


def unused_fields(cfg: RunConfig) -> set[str]:
    """The dotted fields the config's architecture and dataset do not read."""
    from spp_lab.data.registry import SPECIFIC, dataset_spec
    from spp_lab.models import arch_spec
    from spp_lab.models._api import SWITCHES

    arch, data = arch_spec(cfg.model.arch), dataset_spec(cfg.data.name)
    return ({f"model.{k}" for k in SWITCHES if k not in arch.options}
            | {f"data.{k}" for k in SPECIFIC if k not in data.uses})


def _default(key: str) -> Any:
    section, leaf = key.split(".")
    model = type(getattr(RunConfig(), section))
    return model.model_fields[leaf].get_default(call_default_factory=True)


def _get(tree: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        tree = tree[part]
    return tree


def run_id(cfg: RunConfig) -> str:
    """10 hex digits of the SHA-256 of the canonical JSON of :func:`identity`."""
    text = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def run_dir(cfg: RunConfig, rid: str | None = None) -> Path:
    from spp_lab.results import ExperimentFolder

    return ExperimentFolder.of(cfg).run(rid or run_id(cfg)).path


def scalar(v: Any) -> Any:
    """A config value as a table cell: lists become ``6-3-2-1`` (``none`` when empty)."""
    if isinstance(v, list):
        return "-".join(map(str, v)) if v else "none"
    return v


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def config_yaml(cfg: RunConfig) -> str:
    """The resolved config as the YAML that ``spp-lab train CONFIG.yaml`` accepts back."""
    from spp_lab.results import config_text

    return config_text(cfg.model_dump(mode="json"))


def git_commit(cwd: str | Path = ".") -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    """Host, Python and package versions (read without importing them), and the process's
    nice value (a job at a high one gets little CPU on a busy node)."""
    versions = {}
    for pkg in ("spp-lab", "torch", "torchvision", "pytorch-lightning", "wandb", "pydantic"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"host": socket.gethostname(), "python": platform.python_version(),
            "platform": platform.platform(), "cpu": cpu_model(), "git_commit": git_commit(),
            "versions": versions, "nice": os.nice(0) if hasattr(os, "nice") else None}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows): two CPUs can
    give different last digits for the same config."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
