"""Charts that stay readable: labels inside the axes and whiskers whole whatever the
numbers (a change past 100 points, a negative one), and eight conditions told apart by
colour and, in greyscale print, by hatch or by marker and line style."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd

from spp_lab.report.plots import additive_gains, learning_curves, metric_by_axis
from spp_lab.report.tables import comparison

CONDS = ["c0 base", "c1", "c2 wild", "c3 lower", "c4", "c5", "c6", "c7"]


def _runs() -> pd.DataFrame:
    """Two rows × 8 conditions × 3 seeds; c2's seeds spread so wide that its change's CI
    runs past 100 points, c3 is lower than the baseline (a negative change)."""
    rng = np.random.default_rng(0)
    out = []
    for row in ("zf5", "overfeat5"):
        for j, cond in enumerate(CONDS):
            for seed in range(3):
                err = 40 + j + rng.normal(0, 1)
                if cond == "c2 wild":
                    err = [20.0, 95.0, 35.0][seed]
                if cond == "c3 lower":
                    err = 30 + seed * 0.5
                out.append({"model.arch": row, "condition": cond, "seed": seed,
                            "finished": True, "test_top1_err": err})
    df = pd.DataFrame(out)
    df["condition"] = pd.Categorical(df["condition"], CONDS, ordered=True)
    return df


def test_gains_chart_keeps_every_label_and_whisker_inside():
    _, tidy = comparison(_runs(), "model.arch", "test_top1_err", CONDS, "c0 base")
    assert (tidy["delta"] + tidy["delta_ci95"]).max() > 100  # the fixture's extremes
    assert tidy.loc[tidy["condition"] == "c3 lower", "delta"].lt(-5).all()
    fig = additive_gains(tidy, "model.arch")
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_window_extent()
    labels = [t for t in ax.texts if t.get_text()]
    assert len(labels) == 16
    for t in labels:
        e = t.get_window_extent()
        assert box.y0 - 1 <= e.y0 and e.y1 <= box.y1 + 1, t.get_text()
        assert fig.bbox.x0 <= e.x0 and e.x1 <= fig.bbox.x1, t.get_text()
    lo, hi = ax.get_ylim()
    whiskers = [seg for c in ax.collections for seg in c.get_segments()]
    assert len(whiskers) == 14  # every change's whisker, none on the baselines' bars
    ys = np.concatenate([np.asarray(s)[:, 1] for s in whiskers])
    assert lo <= ys.min() and ys.max() <= hi  # drawn whole: not cut at 0 or 100
    bars = ax.patches[:8]
    assert len({mcolors.to_hex(b.get_facecolor()) for b in bars}) == 8
    assert len({b.get_hatch() for b in bars}) == 8  # greyscale: the hatch tells them apart


def test_line_charts_tell_eight_conditions_apart():
    runs = _runs()
    hist = pd.concat([runs.assign(epoch=e, val_top1_err=runs["test_top1_err"] - e)
                      for e in (1, 2, 3)])
    fig = learning_curves(hist, "model.arch")
    lines = [ln for ln in fig.axes[0].lines if ln.get_linestyle() not in ("None", "none")]
    looks = {(mcolors.to_hex(ln.get_color()), str(ln.get_linestyle())) for ln in lines}
    assert len(lines) == 8 and len(looks) == 8
    marks = {ln.get_marker() for ln in fig.axes[0].lines if ln.get_marker() != "None"}
    assert len(marks) == 8  # without colour too: each condition's own marker
    st = runs.groupby(["model.arch", "condition"], observed=True)["test_top1_err"].agg(
        mean="mean").reset_index().assign(ci95=1.0)
    fig = metric_by_axis(st, "model.arch", "test_top1_err")
    markers = {ln.get_marker() for ln in fig.axes[0].lines} - {"None", "_"}  # less caps
    assert len(markers) == 8
