"""Run identity: golden ids (changing the hashing is a deliberate act), key order, every
result-changing field, the fields left out, and the fields added later."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spp_lab.config import RunConfig, build_config, flatten
from spp_lab.runner.devices import GPU, resolve_auto
from spp_lab.runner.expand import expand
from spp_lab.runner.experiment import load_experiment
from spp_lab.runs import _NOT_HASHED, ADDED_LATER, run_id
from tests.conftest import ROOT

CPU: list = []


def rid(tree: dict) -> str:
    return run_id(resolve_auto(build_config(tree), CPU))


# The defaults of 0.1.0, written out (0.2.0's defaults are a CPU-sized miniature).
OLD_DEFAULTS = {"model": {"width": 1.0, "stem": "paper", "batchnorm": False, "levels": [6, 3, 2, 1],
                          "pool5_bins": 6, "fc_dim": 4096, "dropout": 0.5},
                "data": {"num_train": 4000, "num_val": 1000},
                "train": {"optimizer": "sgd", "lr": 0.01}}
# Computed by the code at e7a6826, before this hashing had golden tests: every results
# folder made since keeps its ids. Changing any of these needs a migration (README, "Run
# identity").
GOLDEN = [
    (OLD_DEFAULTS, "1577af92e3"),
    ({"model": {**OLD_DEFAULTS["model"], "arch": "overfeat7", "levels": [4, 2, 1],
                "pool": "avg", "bins": "paper"},
      "data": {"name": "imagefolder", "root": "/x", "seed": 3},
      "train": {**OLD_DEFAULTS["train"], "sizes": [224, 180], "epochs": 70}}, "96f2407ba9"),
    ({"experiment": "other", "output_dir": "/elsewhere", "train": {"threads": 3, **OLD_DEFAULTS[
        "train"]}, "data": {"num_workers": 4, **OLD_DEFAULTS["data"]}, "model": OLD_DEFAULTS[
        "model"], "logging": {"wandb": {"mode": "offline"}}}, "1577af92e3"),
]


@pytest.mark.parametrize("tree,expected", GOLDEN)
def test_golden_run_ids(tree, expected):
    assert rid(tree) == expected


def test_the_shipped_experiments_keep_their_published_ids(tmp_path, monkeypatch):
    """Every job of every shipped experiment file has the id spp-lab 0.1.0 gave it
    (tests/fixtures/shipped_run_ids.json, written by that release), across changed
    defaults and added fields. From an empty folder: an image folder's automatic batch
    (part of the id) depends on the folder, here absent."""
    monkeypatch.chdir(tmp_path)
    golden = json.loads((ROOT / "tests/fixtures/shipped_run_ids.json").read_text())
    files = ["experiments.yaml", *sorted(f"ablations/{p.name}" for p in
                                         (ROOT / "ablations").glob("*.yaml"))]
    assert sorted(golden) == sorted(files)
    for f in files:
        ids = [j.run_id for j in expand(load_experiment(str(ROOT / f)), gpus=[])]
        assert set(golden[f]) <= set(ids), f


def test_a_field_the_config_does_not_read_is_hashed_as_it_was_published():
    """A changed default moves no id of a config that never read the field (resnet18 has
    no width or fc layers; an image folder has no num_train), and does move the id where
    the field is read."""
    resnet = {"model": {"arch": "resnet18"}}
    from spp_lab.runs import identity

    tree = identity(resolve_auto(build_config(resnet), CPU))
    assert tree["model"]["width"] == 1.0 and tree["model"]["fc_dim"] == 4096
    assert tree["model"]["batchnorm"] is False and tree["data"]["num_train"] == 2000  # read
    folder = {"data": {"name": "imagefolder", "root": "/x"}}
    assert identity(resolve_auto(build_config(folder), CPU))["data"]["num_train"] == 4000
    assert rid(folder) == rid(_set(folder, "data.num_train", 2000))  # today's default
    assert rid(folder) != rid(_set(folder, "data.num_train", 123))  # set: hashed as set
    assert rid({}) != rid(OLD_DEFAULTS)  # zf5 reads width: the new default is a new net


def test_an_unresolved_precision_has_no_id():
    with pytest.raises(ValueError, match="resolve it for the device"):
        run_id(RunConfig())
    bf16 = resolve_auto(RunConfig(), [GPU("0", "H100", 81559, 9.0)])
    assert bf16.train.precision == "bf16-mixed" and run_id(bf16) != rid({})
    old = resolve_auto(RunConfig(), [GPU("0", "V100", 16160, 7.0)])
    assert old.train.precision == "32-true" and run_id(old) == rid({})


# A different value for every field that can change the numbers.
CHANGES = {
    "data.name": "imagefolder", "data.root": "/data", "data.download": True,
    "data.image_size": 48, "data.resize": 60, "data.num_train": 123, "data.num_val": 77,
    "data.num_test": 5, "data.val_fraction": 0.2, "data.batch_size": 16, "data.flip": False,
    "data.eval_mode": "full", "data.seed": 1, "data.resample": True, "data.scale": [0.1, 0.3],
    "data.gap": [3.0, 4.0],
    "data.test_views": ["full"], "data.test_fraction": 0.1, "data.decode": "device",
    "model.arch": "overfeat5", "model.width": 0.5, "model.stem": "paper",
    "model.batchnorm": False, "model.head": "global", "model.levels": [4, 2, 1],
    "model.pool": "avg", "model.bins": "paper", "model.pool5_bins": 4, "model.fc_dim": 1024,
    "model.dropout": 0.1,
    "train.epochs": 3, "train.optimizer": "sgd", "train.lr": 0.02, "train.momentum": 0.8,
    "train.weight_decay": 0.0, "train.lr_schedule": "step", "train.plateau_patience": 5,
    "train.label_smoothing": 0.1, "train.ema": 0.99, "train.sizes": [64, 48],
    "train.size_schedule": "batch", "train.seed": 7, "train.deterministic": False,
    "train.channels_last": False, "train.precision": "bf16-mixed", "train.accelerator": "cpu",
    "train.checkpoint": False, "train.limit_train_batches": 2, "train.limit_val_batches": 2,
    "data.skip_bad": True, "model.head_args": {"k": 2}, "model.pretrained": True,
    "train.backbone_lr": 0.1, "train.freeze_backbone": 2, "train.backbone_bn": "frozen",
    "train.bn_recalibrate": 256, "train.test_size_epochs": 2,
}
# Fields valid only beside another setting: the config they are changed from.
BASES = {"data.decode": {"data": {"name": "imagefolder"}},
         "model.head_args": {"model": {"head": "toy-k"}},
         "model.pretrained": {"model": {"arch": "resnet18", "stem": "paper"}}}
BY_CONTENT = {"model.weights"}  # hashed by the file's SHA-256: test_weights_file_*


@pytest.fixture(autouse=True)
def _head_with_settings():
    """A head with a setting of its own (model.head_args), registered for these tests."""
    from pydantic import BaseModel

    from spp_lab.models._api import _HEADS, register_head

    class K(BaseModel):
        k: int = 1

    register_head("toy-k", uses=("pool",), width=lambda c, m: c, settings=K)(
        lambda *a: None)
    yield
    _HEADS.pop("toy-k")
NOT_HASHED = {"experiment": "x", "output_dir": "/o", "train.threads": 2,
              "data.num_workers": 3, "logging.wandb.mode": "offline",
              "logging.wandb.project": "p", "logging.wandb.tags": ["t"]}


def _set(tree: dict, key: str, value) -> dict:
    out = json.loads(json.dumps(tree))
    node = out
    *parents, leaf = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return out


def test_every_field_is_either_hashed_or_documented_as_not():
    every = set(flatten(RunConfig().model_dump(mode="json"))) | {"model.head_args"}  # {}
    assert every == set(CHANGES) | set(NOT_HASHED) | {"logging.wandb.entity"} | BY_CONTENT
    assert set(_NOT_HASHED) <= {k.split(".")[0] if k.startswith("logging") else k
                                for k in NOT_HASHED} | {"logging"}


@pytest.mark.parametrize("key", sorted(CHANGES))
def test_each_result_changing_field_changes_the_id(key):
    base = {"model": {"head": "spp"}} if key != "model.head" else {}
    base |= BASES.get(key, {})
    assert rid(_set(base, key, CHANGES[key])) != rid(base), key


@pytest.mark.parametrize("key", sorted(NOT_HASHED))
def test_fields_that_cannot_change_the_numbers_leave_the_id(key):
    assert rid(_set({}, key, NOT_HASHED[key])) == rid({})


@pytest.mark.parametrize("key", sorted(ADDED_LATER))
def test_fields_added_later_are_hashed_only_away_from_their_default(key, tmp_path):
    base = BASES.get(key, {})
    assert rid(_set(base, key, ADDED_LATER[key])) == rid(base)
    if key in BY_CONTENT:
        (tmp_path / "w.pt").write_bytes(b"w")
    changed = str(tmp_path / "w.pt") if key in BY_CONTENT else CHANGES[key]
    assert rid(_set(base, key, changed)) != rid(base)
    assert rid(OLD_DEFAULTS) == "1577af92e3"


def _shuffled(tree, rnd):
    if not isinstance(tree, dict):
        return tree
    keys = list(tree)
    rnd.shuffle(keys)
    return {k: _shuffled(tree[k], rnd) for k in keys}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(CHANGES)), st.sampled_from(sorted(CHANGES)), st.randoms())
def test_run_id_is_independent_of_key_order(k1, k2, rnd):
    tree = _set(_set({}, k1, CHANGES[k1]), k2, CHANGES[k2])
    try:
        expected = rid(tree)
    except Exception:  # noqa: BLE001  (some pairs are not a valid config: nothing to hash)
        return
    assert rid(_shuffled(tree, rnd)) == expected


# --- the run folder's files ---------------------------------------------------------------


def test_run_dir_and_timestamps(tmp_path):
    from spp_lab.runs import now, run_dir

    cfg = resolve_auto(build_config({"output_dir": str(tmp_path), "experiment": "e"}), CPU)
    assert run_dir(cfg) == tmp_path / "e" / "runs" / run_id(cfg)
    assert run_dir(cfg, "abc") == tmp_path / "e" / "runs" / "abc"
    assert now().endswith("+00:00") and len(now()) == 25  # UTC, to the second


def test_json_files_are_sorted_indented_and_finite(tmp_path):
    from spp_lab.fileio import write_json

    write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    with pytest.raises(ValueError):
        write_json(tmp_path / "nan.json", {"x": float("nan")})
    assert not (tmp_path / "nan.json").exists()
    from spp_lab.results import HISTORY_FIELDS, RunFolder

    run = RunFolder(tmp_path / "r")
    run.write_history([{"epoch": 0, "val_top1_err": 40.5}])
    row = ["40.5" if f == "val_top1_err" else "0" if f == "epoch" else ""
           for f in HISTORY_FIELDS]  # the columns a plug-in's measures add included
    assert run.history.read_bytes() == (",".join(HISTORY_FIELDS) + "\n" + ",".join(row)
                                        + "\n").encode()  # plain newlines, not CSV's \r\n


def test_locks_status_and_reset_on_fresh_and_corrupt_folders(tmp_path):
    import os

    from spp_lab.fileio import JobLock
    from spp_lab.results import RunFolder

    lock, old = JobLock(tmp_path / "a" / "b" / "run" / ".lock"), os.umask(0o022)
    try:
        assert lock.acquire()  # creates the missing folders
    finally:
        os.umask(old)
    assert (lock.path.stat().st_mode & 0o777) == 0o644
    lock.release()
    assert lock.fd is None
    lock.release()  # twice is harmless
    run = RunFolder(tmp_path / "r")
    run.path.mkdir()
    run.status_file.write_text("garbage")
    assert run.update_status(attempts=1) == {"state": "new", "attempts": 1}
    run.reset()  # no checkpoints folder: nothing to remove, no error
    assert not run.status_file.exists()


def test_disk_problem_names_the_nearest_existing_folder(tmp_path, monkeypatch):
    import os
    from collections import namedtuple

    from spp_lab.fileio import disk_problem

    fs = namedtuple("fs", "f_flag f_bavail f_frsize")
    seen = []
    monkeypatch.setattr(os, "statvfs", lambda p: seen.append(p) or fs(0, 3000, 4096))
    assert disk_problem(tmp_path / "x" / "y") == f"{tmp_path}: No space left on device " \
        "(12000 KiB free)"
    assert seen == [tmp_path]
    monkeypatch.setattr(os, "statvfs", lambda p: fs(os.ST_RDONLY, 0, 4096))
    assert disk_problem(tmp_path) == f"{tmp_path}: Read-only file system"


def test_an_unresolved_precision_or_batch_has_no_run_id():
    for tree in ({"train": {"precision": "auto"}}, {"data": {"batch_size": "auto"},
                                                    "train": {"precision": "32-true"}}):
        with pytest.raises(ValueError, match=r"^train.precision or data.batch_size is 'auto':"
                           r" resolve it for the device and the data before computing a run "
                           r"id \(spp_lab.runner.devices"):
            run_id(build_config(tree))


def test_table_cells_and_a_config_that_is_not_a_mapping(tmp_path):
    from spp_lab.fileio import Corrupt
    from spp_lab.results import RunFolder
    from spp_lab.runs import scalar

    assert (scalar([6, 3, 2, 1]), scalar([]), scalar(0.5)) == ("6-3-2-1", "none", 0.5)
    run = RunFolder(tmp_path / "r")
    run.path.mkdir()
    run.config.write_text("- a\n- list\n")
    with pytest.raises(Corrupt) as err:
        run.read_config()
    assert (str(err.value), err.value.path) == (f"{run.config}: not a mapping", run.config)


def test_weights_file_is_hashed_by_its_content_not_its_path(tmp_path):
    """model.weights: two copies of one file give one id; one byte changed, another id;
    a pretrained run is never a scratch one."""
    a, b, c = tmp_path / "a.pt", tmp_path / "sub" / "b.pt", tmp_path / "c.pt"
    b.parent.mkdir()
    a.write_bytes(b"weights" * 100)
    b.write_bytes(a.read_bytes())
    c.write_bytes(b"weightz" * 100)
    ids = [rid({"model": {"weights": str(p)}}) for p in (a, b, c)]
    assert ids[0] == ids[1] != ids[2] != rid({})
    from spp_lab.runs import identity

    tree = identity(resolve_auto(build_config({"model": {"weights": str(a)}}), CPU))
    assert tree["model"]["weights"].startswith("sha256:") and str(tmp_path) not in str(tree)


def test_the_weights_are_part_of_the_run_id(tmp_path):
    """A pretrained run is never mistaken for a scratch one: the resolved tag is hashed
    (true and its default tag are one run, another tag another), and a weights file by its
    content (moved: the same run; changed by one value: another)."""
    import torch

    net = {"arch": "resnet50"}
    scratch = rid({"model": net})
    default = rid({"model": {**net, "pretrained": True}})
    assert default == rid({"model": {**net, "pretrained": "IMAGENET1K_V2"}})
    assert len({scratch, default, rid({"model": {**net, "pretrained": "IMAGENET1K_V1"}})}) == 3
    a, b = tmp_path / "a.pt", tmp_path / "moved" / "b.pt"
    b.parent.mkdir()
    torch.save({"w": torch.zeros(3)}, a)
    b.write_bytes(a.read_bytes())
    zf5 = {"arch": "zf5"}
    with_a = rid({"model": {**zf5, "weights": str(a)}})
    assert with_a == rid({"model": {**zf5, "weights": str(b)}}) != rid({"model": zf5})
    torch.save({"w": torch.tensor([0.0, 0.0, 1e-6])}, b)
    assert rid({"model": {**zf5, "weights": str(b)}}) != with_a
