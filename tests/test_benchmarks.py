"""The benchmarks run (tiny): a signature change in the package cannot silently break
`make bench` (it did once: the SPP benchmark called the layer with an old signature)."""

from __future__ import annotations

import pytest

from benchmarks import bench_report, bench_spp


def test_spp_benchmark_runs_and_compares_the_same_numbers(monkeypatch):
    monkeypatch.setattr(bench_spp, "SHAPES", [((2, 8, 6, 6), (3, 2, 1))])
    (row,) = bench_spp.run("cpu", reps=1)
    assert row["spp_lab"] > 0 and row["per_level"] > 0 and row["bound"] > 0
    assert row["ours/bound"] == pytest.approx(row["spp_lab"] / row["bound"])
    assert "2x8x6x6" in bench_spp.report([row])
    # What it times is the layer itself: equal to the per-level reference it is timed against.
    import torch
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(bench_spp.ours(x, (3, 2, 1)), bench_spp.per_level(x, (3, 2, 1)))


def test_report_benchmark_runs_on_a_small_fixture(tmp_path):
    from spp_lab.report.collect import collect_runs

    bench_report.make_fixture(tmp_path / "x", n=12)  # finished runs as the runner leaves them
    runs, epochs = collect_runs(tmp_path / "x")
    assert runs["status"].eq("done").all() and len(epochs) == 12 * 3
    assert set(zip(runs["condition"], runs["model.head"])) == {
        ("no SPP", "pool"), ("SPP single-size", "spp"), ("SPP multi-size", "spp")}
    assert "data.batch_size" in runs  # the whole resolved config, as real runs have
    r = bench_report.run(n=48, reps=1)
    assert r["rows"] == 48 and r["command"] > r["seconds"] > 0 and r["baseline"] > 0


def test_train_benchmark_pairs_steps_and_takes_ratios_per_pair():
    from benchmarks import bench_train

    t = bench_train.paired({"spp": {"head": "spp"}, "pool": {"head": "pool"}}, rounds=2,
                           warmup=1)
    assert [len(v) for v in t.values()] == [2, 2] and min(min(v) for v in t.values()) > 0
    times = {"a": [1.0, 2.0, 4.0], "b": [2.0, 2.0, 2.0]}
    assert bench_train.ratio(times, "a", "b") == 1.0  # pairs 2, 1, 0.5: not 2 / 2
    assert bench_train.rate(times, "a") == bench_train.BATCH / 2.0
