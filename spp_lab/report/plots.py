"""Charts: pure functions, a DataFrame in, a matplotlib Figure out (Agg; no torch).

Readable in grayscale: bars carry hatches as well as shades, lines carry markers.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo"]
SHADES = ["0.25", "0.55", "0.8", "0.4", "0.65", "0.9", "0.15"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
UNIT = {"val_top1_err": "top-1 error (%)", "val_top5_err": "top-5 error (%)",
        "best_val_top1_err": "best top-1 error (%)", "best_val_top5_err": "best top-5 error (%)",
        "val_loss": "validation loss", "train_loss": "training loss",
        "test_top1_err": "test top-1 error (%)", "test_top5_err": "test top-5 error (%)",
        "test_loss": "test loss"}


def additive_gains(tidy: pd.DataFrame, rows: str, title: str = "") -> Figure:
    """Waterfall per row: the baseline's error, then each successive condition's change.

    ``tidy`` is :func:`spp_lab.report.tables.comparison`'s numbers (mean, ci95, delta, ...)
    in condition order; error bars are 95% CIs over seeds (absent with one seed).
    """
    metric = str(tidy["metric"].iloc[0])
    row_values = list(dict.fromkeys(tidy[rows]))
    conds = list(dict.fromkeys(tidy["condition"]))
    fig, ax = plt.subplots(figsize=(1.6 + 1.9 * len(row_values), 4.2))
    width = 0.8 / len(conds)
    for i, rv in enumerate(row_values):
        part = tidy[tidy[rows] == rv].set_index("condition")
        prev = None
        for j, cond in enumerate(conds):
            if cond not in part.index:
                continue
            r, x = part.loc[cond], i + (j - (len(conds) - 1) / 2) * width
            ci = r["ci95"] if r["n"] >= 2 else np.nan
            if prev is None:
                ax.bar(x, r["mean"], width, color=SHADES[j], hatch=HATCHES[j], edgecolor="k",
                       yerr=None if np.isnan(ci) else ci, capsize=3,
                       label=cond if i == 0 else None)
                ax.text(x, r["mean"], f"{r['mean']:.1f}", ha="center", va="bottom", fontsize=8)
            else:
                lo, hi = sorted((prev, r["mean"]))
                step = r["mean"] - prev
                ax.bar(x, hi - lo, width, bottom=lo, color=SHADES[j], hatch=HATCHES[j],
                       edgecolor="k", label=cond if i == 0 else None)
                ax.plot([x - width / 2, x + width / 2], [r["mean"]] * 2, color="k", lw=2)
                if not np.isnan(ci):
                    ax.errorbar(x, r["mean"], yerr=ci, color="k", capsize=3)
                ax.text(x, hi, f"{step:+.2f}".replace("-", "−"), ha="center", va="bottom",
                        fontsize=8)
            prev = r["mean"]
    ax.set_xticks(range(len(row_values)), [str(v) for v in row_values])
    ax.set_xlabel(rows)
    ax.set_ylabel(UNIT.get(metric, metric))
    lows = tidy["mean"] - tidy["ci95"].fillna(0)
    highs = tidy["mean"] + tidy["ci95"].fillna(0)
    pad = max(0.5, (highs.max() - lows.min()) * 0.25)
    top = highs.max() + pad
    ax.set_ylim(max(0.0, lows.min() - pad), min(100.0, top) if "err" in metric else top)
    ax.set_title(title or f"{UNIT.get(metric, metric)} by condition\nbars: the change at each "
                          "step; whiskers: 95% CI over seeds", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def metric_by_axis(stats: pd.DataFrame, axis: str, metric: str) -> Figure:
    """Error against one swept axis (levels, pool type, size, ...), one line per condition."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    xs = list(dict.fromkeys(stats[axis].astype(str)))
    for j, (cond, part) in enumerate(stats.groupby("condition", sort=False, observed=True)):
        part = part.set_index(stats.loc[part.index, axis].astype(str)).reindex(xs)
        ax.errorbar(range(len(xs)), part["mean"], yerr=part["ci95"], marker=MARKERS[j % 7],
                    color=SHADES[j % 7], capsize=3, label=str(cond), linestyle="-")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_xlabel(axis)
    ax.set_ylabel(UNIT.get(metric, metric))
    ax.set_title(f"{UNIT.get(metric, metric)} by {axis} (mean, 95% CI over seeds)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def learning_curves(history: pd.DataFrame, metric: str = "val_top1_err") -> Figure:
    """Mean curve per condition over seeds (band: ±1 std); ``history`` has epoch, condition."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    agg = history.groupby(["condition", "epoch"], observed=True)[metric].agg(["mean", "std"])
    for j, (cond, part) in enumerate(agg.groupby(level=0, sort=False, observed=True)):
        part = part.droplevel(0)
        ax.plot(part.index + 1, part["mean"], marker=MARKERS[j % 7], color=SHADES[j % 7],
                label=str(cond))
        ax.fill_between(part.index + 1, part["mean"] - part["std"].fillna(0),
                        part["mean"] + part["std"].fillna(0), color=SHADES[j % 7], alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(UNIT.get(metric, metric))
    ax.set_title(f"Learning curves: {UNIT.get(metric, metric)} (mean ± std over runs)",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save(fig: Figure, stem) -> list:
    """PNG and SVG beside each other; returns the paths."""
    out = []
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, dpi=120, metadata={"Date": None} if ext == "svg" else None)
        out.append(path)
    plt.close(fig)
    return out
