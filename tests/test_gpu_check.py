"""`make gpu-check` runs on a CPU too (small): the driver a GPU session will run cannot rot.
Its CUDA tests are selected by the ``cuda`` marker (here all skip), its benchmarks are
``python -m benchmarks spp device``, each of which also runs here."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_gpu_check_runs_on_the_cpu():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu",
                           "--quick", "--no-runs"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "== CUDA tests: exit 0" in out and " skipped" in out  # no GPU: they skip
    assert out.count("| SPP fwd+bwd 8x16x13x13") == 4  # fp32/bf16 × contiguous/channels-last
    assert "LRN / batch norm img/s" in out and "JPEG decode+augment per CPU worker" in out
    assert "SPP layer, forward+backward" in out  # bench_spp, quick
    assert "| CUDA tests | 0 |" in out and "| benchmarks | 0 |" in out


def test_every_cuda_test_is_marked_so_gpu_check_selects_it():
    from benchmarks.gpu_check import CUDA_TESTS

    for name in CUDA_TESTS:
        text = (ROOT / name).read_text()
        assert "pytest.mark.cuda" in text, name
    for path in (ROOT / "tests").glob("test_*.py"):
        text = path.read_text()
        if path.name == "test_gpu_check.py":
            continue
        if "torch.cuda.is_available()" in text and "skip" in text:
            assert f"tests/{path.name}" in CUDA_TESTS, path.name
