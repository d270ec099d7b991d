"""Shared fixtures. Training fixtures are session-scoped: each trains once per test run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import settings

from ablations.folders import write_faces, write_textures  # noqa: F401  (real folders)

# `make mutate` runs the property tests once per mutant: fewer examples there.
settings.register_profile("mutate", max_examples=8, deadline=None)
_MUTMUT_DURATIONS: dict[str, float] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `make mutate`, a mutant's tests run fastest first (mutmut passes -x): most
    mutants are killed by a quick unit test, so the slow end-to-end ones rarely run."""
    stats = Path("mutmut-stats.json")  # mutmut runs the tests inside mutants/
    if not os.environ.get("MUTANT_UNDER_TEST") or not stats.exists():
        return
    if not _MUTMUT_DURATIONS:
        _MUTMUT_DURATIONS.update(json.loads(stats.read_text())["duration_by_test"])
    items.sort(key=lambda item: _MUTMUT_DURATIONS.get(item.nodeid, 0.0))

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

# A run small enough to train in a few seconds on 2 cores.
TINY = [
    "model.stem=small", "model.width=0.125", "model.batchnorm=true", "model.fc_dim=512",
    "data.image_size=32", "data.num_train=256", "data.num_val=64", "data.batch_size=64",
    "train.epochs=2", "train.optimizer=adamw", "train.lr=0.003", "train.threads=1",
]


# An experiment file around the tiny net on 32-px scenes; ``rest``: its other sections.
TINY_EXPERIMENT = """
name: {name}
base:
  output_dir: {out}
  model: {{stem: small, width: 0.125, batchnorm: true, fc_dim: 64, levels: [2, 1],
           pool5_bins: 2}}
  data: {{image_size: 32, num_train: {n}, num_val: 32, batch_size: {batch}}}
  train: {{epochs: {epochs}, optimizer: adamw, lr: 0.003}}
"""


def tiny_experiment(path: Path, out: Path, rest: str = "", n: int = 64, batch: int = 32,
                    epochs: int = 1) -> Path:
    """Write :data:`TINY_EXPERIMENT` (named after the file) plus ``rest`` to ``path``."""
    path.write_text(TINY_EXPERIMENT.format(name=path.stem, out=out, n=n, batch=batch,
                                           epochs=epochs) + textwrap.dedent(rest))
    return path


def spp_lab(*args: str, cwd: Path | None = None, timeout: int = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real console script in a subprocess."""
    return subprocess.run([str(BIN / "spp-lab"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def spp_lab_cpu(*args: str, **kw) -> tuple[subprocess.CompletedProcess, float]:
    """:func:`spp_lab`, and the CPU seconds the command used (user and system, its own
    children included): a bound on it holds on a busy machine, where wall time does not."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = spp_lab(*args, **kw)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def wait_for(pred, timeout: float = 120.0) -> bool:
    """Poll ``pred`` every 50 ms until it holds (True) or ``timeout`` seconds pass (False)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    return list(TINY)


def write_digits(root: Path, per_class: int = 40, classes: tuple[int, ...] = tuple(range(10))
                 ) -> Path:
    """scikit-learn's bundled handwritten digits (8×8 grey scans, real images nobody here
    made) as ``root/<digit>/<n>.png``, ``per_class`` of each."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits, counts = load_digits(), {}
    for img, y in zip(digits.images, digits.target):
        k = counts.get(int(y), 0)
        if int(y) not in classes or k >= per_class:
            continue
        counts[int(y)] = k + 1
        (root / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 / 16).astype(np.uint8), "L").save(root / str(y) / f"{k}.png")
    return root


def add_faults(root: Path) -> dict[str, Path]:
    """What real folders hold besides images: Jupyter's and macOS's hidden folders (with
    image files inside), a README, a .DS_Store, and one truncated PNG; returns them."""
    import shutil

    first = sorted(p for p in root.iterdir() if p.is_dir())[0]
    (root / ".ipynb_checkpoints").mkdir()
    shutil.copy(next(first.glob("*.png")), root / ".ipynb_checkpoints" / "0-checkpoint.png")
    (root / "__MACOSX" / first.name).mkdir(parents=True)
    (root / "__MACOSX" / first.name / "._0.png").write_bytes(b"\0\5\26\7 AppleDouble")
    (root / "README.txt").write_text("digits, 8x8\n")
    (first / "notes.txt").write_text("scanned 1998\n")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 64)
    good = next(iter(sorted(first.glob("*.png"))))
    truncated = first / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    return {"truncated": truncated, "class": first}
