"""The defaults are a coherent miniature of the paper: with no config at all every head,
every architecture, every pool type and both bin formulas train, and they learn, on the
embedded data and on a small real image folder."""

from __future__ import annotations

import json
import re

import pytest

from spp_lab.config import RunConfig
from spp_lab.models import arch_spec, list_heads, list_models
from tests.conftest import spp_lab, write_digits

ARCHS = ",".join(list_models())
HEADS = ",".join(list_heads())


def test_the_default_pyramid_pools_every_architectures_map():
    """The finest default level is no finer than any architecture's conv map at the default
    size (a 3×3 map pooled into 6×6 bins repeats pixels), and pool5's window at the default
    size is the paper's: 3 wide, stride 2, like its finest pyramid level."""
    from spp_lab.layers.bins import adaptive_edges, fixed_window

    cfg = RunConfig()
    for arch in list_models():
        side = arch_spec(arch).map_size(cfg.model.stem, cfg.data.image_size)
        assert side >= max(cfg.model.levels), arch
    zf5 = arch_spec("zf5").map_size(cfg.model.stem, cfg.data.image_size)
    assert zf5 == 7 and fixed_window(zf5, cfg.model.pool5_bins) == (3, 2)
    assert adaptive_edges(zf5, 3) == [(0, 3), (2, 5), (4, 7)]  # the same bins


def _diagonal(first: list[str], second: list[str]) -> list[tuple[str, str]]:
    """Pairs in which every value of both lists occurs (not the whole cross)."""
    n = max(len(first), len(second))
    return [(first[i % len(first)], second[i % len(second)]) for i in range(n)]


def test_every_head_and_architecture_lists_and_trains_with_the_defaults(tmp_path):
    """``ls`` size-checks the whole cross; the runner trains a diagonal of it, every head
    and every architecture at least once (tests/test_models.py trains a step of each pair
    in-process)."""
    grid = [f"model.head={HEADS}", f"model.arch={ARCHS}"]
    proc = spp_lab("ls", "-m", *grid, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    jobs = json.loads(proc.stdout)["jobs"]
    assert len(jobs) == len(list_heads()) * len(list_models())
    pairs = _diagonal(list_heads(), list_models())
    only = [a for h, m in pairs for a in ("--only", f"model.head={h},model.arch={m}")]
    proc = spp_lab("run", "-m", *grid, *only, "--smoke", "--no-report", cwd=tmp_path,
                   timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{len(pairs)} done, 0 failed" in proc.stdout


def test_every_pool_type_and_bin_formula_trains_with_the_defaults(tmp_path):
    from spp_lab.layers.choices import BIN_MODES, POOL_TYPES

    pairs = _diagonal(list(POOL_TYPES), list(BIN_MODES))  # the cross: tests/test_spp*.py
    only = [a for p, b in pairs for a in ("--only", f"model.pool={p},model.bins={b}")]
    proc = spp_lab("run", "-m", f"model.pool={','.join(POOL_TYPES)}",
                   f"model.bins={','.join(BIN_MODES)}", *only, "--smoke", "--no-report",
                   cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"{len(pairs)} done, 0 failed" in proc.stdout
    # Multi-size and a test view (the baseline, model.head=pool: tests/test_readme.py).
    proc = spp_lab("train", "--smoke", "train.sizes=[64,48]", "data.num_test=8",
                   "data.test_views=[full,48]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _final_error(stdout: str) -> float:
    return float(re.search(r"final val top-1 error ([\d.]+)%", stdout).group(1))


@pytest.mark.slow
def test_spp_lab_train_with_no_arguments_learns(tmp_path):
    """The README's first command: 10 epochs of the embedded scenes, about a minute on 2
    cores, ending far below chance (90% for 10 classes)."""
    proc = spp_lab("train", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _final_error(proc.stdout) < 50.0, proc.stdout[-1500:]


def test_the_defaults_learn_on_a_small_real_image_folder(tmp_path):
    """Five classes of scanned digits (8×8 px files), nothing set but the folder and flip
    (a mirrored digit is another digit): far below chance (80%)."""
    root = write_digits(tmp_path / "digits", per_class=60, classes=(0, 1, 2, 3, 4))
    proc = spp_lab("train", "data.name=imagefolder", f"data.root={root}", "data.flip=false",
                   cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _final_error(proc.stdout) < 40.0, proc.stdout[-1500:]
