"""`make gpu-check` runs on a CPU too (small): the script a GPU session will run cannot rot."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_gpu_check_runs_on_the_cpu_and_prints_one_table():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu",
                           "--quick", "--no-runs"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "| training switches on the device | 20/20 train | all |" in out
    assert out.count("| SPP fwd+bwd 8x16x13x13") == 4  # fp32/bf16 × contiguous/channels-last
    assert "LRN / batch norm img/s" in out and "JPEG decode+augment per CPU worker" in out
    assert "| JPEG decode+augment on the device (data.decode: device) |" in out
