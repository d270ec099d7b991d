"""Charts: pure functions, a DataFrame in, a matplotlib Figure out (Agg; no torch).

Readable in grayscale: bars carry hatches as well as shades, lines carry markers; the
baseline condition is always the darkest. Legends sit outside the axes and titles wrap, so
nothing is clipped or covered at any number of rows. :func:`gains_data` returns the
numbers :func:`additive_gains` draws (the report saves them beside the chart).
"""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from spp_lab.metrics import title as metric_title  # noqa: E402

HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo"]
SHADES = ["0.15", "0.55", "0.8", "0.4", "0.65", "0.9", "0.3"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]


def _wrap(text: str, width_in: float) -> str:
    return "\n".join(textwrap.wrap(text, max(30, int(width_in * 11))))


def _legend_below(fig: Figure, ax, n: int) -> None:
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=min(n, 3), frameon=False)


def gains_data(tidy: pd.DataFrame, rows: str) -> pd.DataFrame:
    """What the gains chart draws, per (row, condition): the bar from the baseline's mean to
    the condition's (``bottom``, ``top``), the whisker (the paired 95% CI of the change;
    none on the baseline's bar), and the label (the change against the baseline, as in the
    table)."""
    out = []
    for rv, part in tidy.groupby(rows, sort=False, observed=True):
        part = part.dropna(subset=["mean"])
        if part.empty:
            continue
        flagged = part[part["is_baseline"]] if "is_baseline" in part else part.iloc[:0]
        base = flagged.iloc[0] if len(flagged) else part.iloc[0]
        for _, r in part.iterrows():
            is_base = r["condition"] == base["condition"]
            ci = np.nan if is_base else r.get("delta_ci95", np.nan)  # the change's CI only
            change = 0.0 if is_base else r["mean"] - base["mean"]
            out.append({rows: rv, "condition": r["condition"], "baseline": is_base,
                        "bottom": 0.0 if is_base else base["mean"], "top": r["mean"],
                        "change": change, "whisker": ci,
                        "label": f"{r['mean']:.1f}" if is_base else
                        f"{change:+.2f}".replace("-", "−")
                        + ("" if pd.isna(ci) else f" ± {ci:.2f}")})
    return pd.DataFrame(out)


def additive_gains(tidy: pd.DataFrame, rows: str, title: str = "") -> Figure:
    """Per row: the baseline's error (whisker: its 95% CI over seeds), then each condition's
    change against the baseline as a bar from the baseline's level to the condition's
    (whisker: the seed-paired 95% CI of that change; label: the change, as in the table).

    ``tidy`` is :func:`spp_lab.report.tables.comparison`'s numbers in condition order."""
    metric = str(tidy["metric"].iloc[0])
    data = gains_data(tidy, rows)
    row_values = list(dict.fromkeys(data[rows]))
    conds = list(dict.fromkeys(tidy["condition"]))
    width_in = max(4.8, 1.4 + 1.9 * len(row_values))
    fig, ax = plt.subplots(figsize=(width_in, 4.6))
    width = 0.8 / len(conds)
    tops = []
    for i, rv in enumerate(row_values):
        for _, r in data[data[rows] == rv].iterrows():
            j = conds.index(r["condition"])
            x = i + (j - (len(conds) - 1) / 2) * width
            lo, hi = sorted((r["bottom"], r["top"]))
            ax.bar(x, hi - lo, width, bottom=lo, color=SHADES[j % 7], hatch=HATCHES[j % 7],
                   edgecolor="k", label=str(r["condition"]) if i == 0 else None)
            w = 0.0 if pd.isna(r["whisker"]) else r["whisker"]
            if w:
                ax.errorbar(x, r["top"], yerr=w, color="k", capsize=3, lw=1)
            if not r["baseline"]:
                ax.plot([x - width / 2, x + width / 2], [r["top"]] * 2, color="k", lw=2)
            y = max(r["top"] + w, hi)
            ax.annotate(r["label"], (x, y), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7,
                        rotation=90 if len(r["label"]) > 7 else 0)
            tops.append(y)
    ax.set_xticks(range(len(row_values)), [str(v) for v in row_values])
    ax.set_xlabel(rows)
    ax.set_ylabel(metric_title(metric))
    lows = (data["top"] - data["whisker"].fillna(0)).tolist()
    hi_all = max(tops) if tops else 1.0
    span = max(hi_all - min(lows), 1.0)
    top = hi_all + 0.35 * span  # room for the labels above the whiskers
    ax.set_ylim(max(0.0, min(lows) - 0.15 * span), min(100.0, top) if metric.endswith(
        "_err") and top > 100 else top)
    base = str(conds[0])
    ax.set_title(_wrap(title or f"{metric_title(metric)}: the {base} level, and each "
                       f"condition's change against {base} (labels; whiskers: 95% CI of "
                       "the change, paired by seed)", width_in), fontsize=9)
    _legend_below(fig, ax, len(conds))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def metric_by_axis(stats: pd.DataFrame, axis: str, metric: str,
                   order: list | None = None) -> Figure:
    """Error against one swept axis (levels, pool type, size, ...), one line per condition,
    the x values in the experiment file's order."""
    fig, ax = plt.subplots(figsize=(5.8, 4.2))
    seen = list(dict.fromkeys(stats[axis].astype(str)))
    xs = [str(v) for v in order if str(v) in seen] if order else seen
    for j, (cond, part) in enumerate(stats.groupby("condition", sort=False, observed=True)):
        part = part.set_index(stats.loc[part.index, axis].astype(str)).reindex(xs)
        ax.errorbar(range(len(xs)), part["mean"], yerr=part["ci95"], marker=MARKERS[j % 7],
                    color=SHADES[j % 7], capsize=3, label=str(cond), linestyle="-")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_xlabel(axis)
    ax.set_ylabel(metric_title(metric))
    if metric.endswith("_err"):
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(0.0, lo), min(100.0, hi))
    ax.set_title(_wrap(f"{metric_title(metric)} by {axis} (mean, 95% CI over seeds)", 5.8),
                 fontsize=9)
    _legend_below(fig, ax, stats["condition"].nunique())
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def learning_curves(history: pd.DataFrame, rows: str | None = None,
                    metric: str = "val_top1_err", test_size: int | None = None) -> Figure:
    """Validation curves: one panel per value of ``rows`` (e.g. the architecture), one line
    per condition in condition order (mean over seeds; band ±1 std). Epochs trained at
    another size than the test size (multi-size) are marked with open markers."""
    panels = list(dict.fromkeys(history[rows])) if rows and rows in history else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(1.0 + 4.2 * len(panels), 4.4),
                             squeeze=False, sharey=True)
    conds = (list(history["condition"].cat.categories) if hasattr(history["condition"], "cat")
             else list(dict.fromkeys(history["condition"])))
    for ax, pv in zip(axes[0], panels):
        part = history if pv is None else history[history[rows] == pv]
        for j, cond in enumerate(conds):
            c = part[part["condition"] == cond]
            if c.empty:
                continue
            agg = c.groupby("epoch")[metric].agg(["mean", "std"])
            x = agg.index
            ax.plot(x, agg["mean"], color=SHADES[j % 7], lw=2 if j == 0 else 1.3,
                    label=str(cond))
            ax.fill_between(x, agg["mean"] - agg["std"].fillna(0),
                            agg["mean"] + agg["std"].fillna(0), color=SHADES[j % 7], alpha=0.15)
            small = _other_size(c, test_size).reindex(agg.index, fill_value=False)
            small, y = small.to_numpy(dtype=bool), agg["mean"].to_numpy()
            ax.plot(x[~small], y[~small], linestyle="none", marker=MARKERS[j % 7],
                    markersize=4, color=SHADES[j % 7])
            ax.plot(x[small], y[small], linestyle="none", marker=MARKERS[j % 7], markersize=6,
                    markerfacecolor="white", color=SHADES[j % 7])
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(str(pv) if pv is not None else "", fontsize=9)
        ax.grid(alpha=0.3)
        if metric.endswith("_err"):
            lo, hi = ax.get_ylim()
            ax.set_ylim(max(0.0, lo), min(100.0, hi))
    axes[0][0].set_ylabel(metric_title(metric))
    fig.suptitle(_wrap(f"Learning curves: {metric_title(metric)} each epoch (mean ± std over "
                       "seeds); open markers: epochs trained at a smaller size",
                       1.0 + 4.2 * len(panels)), fontsize=9)
    _legend_below(fig, axes[0][len(panels) // 2], len(conds))
    fig.tight_layout()
    return fig


def _other_size(c: pd.DataFrame, test_size: int | None) -> pd.Series:
    """Per epoch: was any run's training at a size other than the test size?"""
    if test_size is None or "train_size" not in c:
        return pd.Series(False, index=sorted(c["epoch"].unique()))
    other = c["train_size"].astype(str) != str(test_size)
    return other.groupby(c["epoch"]).any()
