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


def mirrors_paper(conditions: list[str], rows: str) -> bool:
    """Whether an experiment's columns are the paper's, so its gains can sit beside ours."""
    return rows == "model.arch" and set(PAPER_CONDITIONS) <= set(conditions)
