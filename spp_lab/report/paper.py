"""The SPP-net paper's Table 2 (shipped as ``paper_table2.csv``, sources labelled)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

PAPER_ARCHS = {"zf5": "ZF-5", "convnet5": "Convnet*-5", "overfeat5": "Overfeat-5",
               "overfeat7": "Overfeat-7"}
PAPER_CONDITIONS = ("no SPP", "SPP single-size", "SPP multi-size")


def paper_table() -> pd.DataFrame:
    """arch, condition, top1_err, top5_err, sources, uncertain (ImageNet val, 10 views)."""
    with resources.files("spp_lab.report").joinpath("paper_table2.csv").open() as f:
        df = pd.read_csv(f, comment="#", keep_default_na=False)
    df["uncertain"] = df["uncertain"].replace("", None)
    return df


def paper_runs() -> pd.DataFrame:
    """The paper's Table 2 as run rows (one 'seed' per cell), for the report functions."""
    df = paper_table()
    df = df[df["condition"].isin(PAPER_CONDITIONS)].copy()
    df["condition"] = pd.Categorical(df["condition"], PAPER_CONDITIONS, ordered=True)
    df["seed"] = 0
    df["model.arch"] = df["arch"]
    # The paper's numbers are ImageNet val, its held-out set: they stand beside our val and
    # test errors alike.
    for split in ("val", "test"):
        df[f"{split}_top1_err"], df[f"{split}_top5_err"] = df["top1_err"], df["top5_err"]
    return df


def mirrors_paper(conditions: list[str], rows: str, baseline: str) -> bool:
    """Whether an experiment's columns and baseline are the paper's, so the paper's gains
    can sit beside its own."""
    return (rows == "model.arch" and set(PAPER_CONDITIONS) <= set(conditions)
            and baseline == PAPER_CONDITIONS[0])


def paper_beside(tidy: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Measured change against no SPP beside the paper's, per architecture and condition
    (``tidy``: the comparison's numbers, with the paper's baseline)."""
    from spp_lab.report.tables import comparison

    _, ptidy = comparison(paper_runs(), "model.arch", metric, list(PAPER_CONDITIONS),
                          PAPER_CONDITIONS[0])
    ours = tidy[tidy["condition"].astype(str) != PAPER_CONDITIONS[0]].copy()
    ours["model.arch"] = ours["model.arch"].astype(str)
    ptidy["model.arch"] = ptidy["model.arch"].astype(str)
    merged = ours.merge(ptidy[["model.arch", "condition", "delta"]].rename(
        columns={"delta": "paper_delta"}), on=["model.arch", "condition"], how="left")
    return merged[["model.arch", "condition", "delta", "delta_ci95", "delta_n", "paper_delta"]]
