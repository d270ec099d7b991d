"""Charts: pure functions, a DataFrame in, a matplotlib Figure out (Agg; no torch).

Up to 8 conditions are told apart at a glance and in greyscale print: each has its own
colour (Okabe and Ito's colour-blind-safe set, the baseline's black), and besides a hatch
(bars) or a marker and a line style (lines). The axes hold every whisker whole (below 0 or
past 100 as well) and every label; legends sit outside the axes and titles wrap, so nothing
is clipped or covered at any number of rows. :func:`gains_data` returns the numbers
:func:`additive_gains` draws (the report saves them beside the chart).
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

COLORS = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7",
          "#F0E442"]  # Okabe & Ito: distinct for colour-blind readers, baseline first
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINES = ["-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)), (0, (1, 2)), (0, (8, 2, 2, 2))]


def style(j: int) -> dict:
    """Condition ``j``'s look: colour, hatch, marker, line style (cycling after 8)."""
    k = j % len(COLORS)
    return {"color": COLORS[k], "hatch": HATCHES[k], "marker": MARKERS[k],
            "linestyle": LINES[k]}


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
    """Per row: the baseline's error, then each condition's change against the baseline as
    a bar from the baseline's level to the condition's (whisker: the seed-paired 95% CI of
    that change, drawn whole; label: the change, as in the table, inside the axes).

    ``tidy`` is :func:`spp_lab.report.tables.comparison`'s numbers in condition order."""
    metric = str(tidy["metric"].iloc[0])
    data = gains_data(tidy, rows)
    row_values = list(dict.fromkeys(data[rows]))
    conds = list(dict.fromkeys(tidy["condition"]))
    width_in = max(4.8, 1.4 + (0.9 + 0.35 * len(conds)) * len(row_values))
    fig, ax = plt.subplots(figsize=(width_in, 4.6))
    width = 0.8 / len(conds)
    labels, ends = [], []
    for i, rv in enumerate(row_values):
        for _, r in data[data[rows] == rv].iterrows():
            j = conds.index(r["condition"])
            x = i + (j - (len(conds) - 1) / 2) * width
            lo, hi = sorted((r["bottom"], r["top"]))
            st = style(j)
            ax.bar(x, hi - lo, width, bottom=lo, color=st["color"], hatch=st["hatch"],
                   edgecolor="k", alpha=0.85, label=str(r["condition"]) if i == 0 else None)
            w = 0.0 if pd.isna(r["whisker"]) else float(r["whisker"])
            if w:
                ax.errorbar(x, r["top"], yerr=w, color="k", capsize=3, lw=1)
            if not r["baseline"]:
                ax.plot([x - width / 2, x + width / 2], [r["top"]] * 2, color="k", lw=2)
            ends += [r["top"] - w, r["top"] + w, hi]
            labels.append(ax.annotate(r["label"], (x, max(r["top"] + w, hi)), xytext=(0, 3),
                                      textcoords="offset points", ha="center", va="bottom",
                                      fontsize=7, rotation=90 if len(r["label"]) > 7 else 0))
    ax.set_xticks(range(len(row_values)), [str(v) for v in row_values])
    ax.set_xlabel(rows)
    ax.set_ylabel(metric_title(metric))
    low, high = min(ends), max(ends)
    span = max(high - low, 1.0)
    ax.set_ylim(low - 0.12 * span, high + 0.12 * span)
    base = str(conds[0])
    ax.set_title(_wrap(title or f"{metric_title(metric)}: the {base} level, and each "
                       f"condition's change against {base} (labels; whiskers: 95% CI of "
                       "the change, paired by seed)", width_in), fontsize=9)
    _legend_below(fig, ax, len(conds))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _room_for(fig, ax, labels)
    return fig


def _room_for(fig: Figure, ax, texts: list) -> None:
    """Raise the top of the axes until every text fits inside them (its drawn extent)."""
    for _ in range(3):
        fig.canvas.draw()
        top = max((t.get_window_extent().y1 for t in texts), default=0.0)
        limit = ax.get_window_extent().y1
        if top <= limit - 2:
            return
        lo, hi = ax.get_ylim()
        per_px = (hi - lo) / max(ax.get_window_extent().height, 1.0)
        ax.set_ylim(lo, hi + (top - limit + 6) * per_px * 1.2)


def metric_by_axis(stats: pd.DataFrame, axis: str, metric: str,
                   order: list | None = None) -> Figure:
    """Error against one swept axis (levels, pool type, size, ...), one line per condition,
    the x values in the experiment file's order."""
    fig, ax = plt.subplots(figsize=(5.8, 4.2))
    seen = list(dict.fromkeys(stats[axis].astype(str)))
    xs = [str(v) for v in order if str(v) in seen] if order else seen
    for j, (cond, part) in enumerate(stats.groupby("condition", sort=False, observed=True)):
        part = part.set_index(stats.loc[part.index, axis].astype(str)).reindex(xs)
        st = style(j)
        ax.errorbar(range(len(xs)), part["mean"], yerr=part["ci95"], marker=st["marker"],
                    color=st["color"], capsize=3, label=str(cond), linestyle=st["linestyle"])
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
            x, st = agg.index, style(j)
            ax.plot(x, agg["mean"], color=st["color"], linestyle=st["linestyle"],
                    lw=2 if j == 0 else 1.4, label=str(cond))
            ax.fill_between(x, agg["mean"] - agg["std"].fillna(0),
                            agg["mean"] + agg["std"].fillna(0), color=st["color"], alpha=0.1,
                            linewidth=0)
            small = _other_size(c, test_size).reindex(agg.index, fill_value=False)
            small, y = small.to_numpy(dtype=bool), agg["mean"].to_numpy()
            ax.plot(x[~small], y[~small], linestyle="none", marker=st["marker"],
                    markersize=4, color=st["color"])
            ax.plot(x[small], y[small], linestyle="none", marker=st["marker"], markersize=6,
                    markerfacecolor="white", color=st["color"])
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
