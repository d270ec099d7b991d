"""An experiment from the command line, in Hydra's multirun spirit (no file to write):

    spp-lab run -m model.head=pool,spp "model.levels=[4,2,1],[6,3,2,1]" --seeds 0-2

A key with several comma-separated values (commas inside brackets do not split) is swept:
the first such key becomes the conditions (the columns of the report, the first value the
baseline), the others the grid (the second gives the rows); a key with one value goes into
``base``; ``--base CONFIG.yaml`` starts from a run config. The jobs, run ids, resume and
report are exactly those of the equivalent file, which ``--print-experiment`` prints.
"""

from __future__ import annotations

from typing import Any

import yaml

from spp_lab.errors import UserError, load_yaml, load_yaml_text
from spp_lab.runner.select import _split_top
from spp_lab.schema import MAX_JOBS


def parse_seeds(text: str) -> list[int]:
    """``0-2`` → [0, 1, 2]; ``0,3,5`` → [0, 3, 5]."""
    try:
        if "-" in text.strip("-") and "," not in text:
            lo, hi = (int(p) for p in text.split("-"))
            if hi - lo + 1 > MAX_JOBS:
                raise UserError(f"--seeds {text}: {hi - lo + 1:,} seeds; an experiment may "
                                f"have at most {MAX_JOBS:,} jobs")
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise UserError(f"--seeds {text!r}: expected a range like 0-2 or a list like 0,3,5 "
                        "of whole numbers ≥ 0")
    return seeds


def experiment_from_args(overrides: list[str], *, seeds: str = "0", name: str | None = None,
                         base_file: str | None = None) -> dict[str, Any]:
    """The experiment file (as a mapping) that ``-m`` overrides describe."""
    base = load_yaml(base_file) if base_file else {}
    if not isinstance(base, dict):
        raise UserError(f"{base_file}: expected a run config (a mapping of sections)")
    from spp_lab.config import set_dotted

    swept: dict[str, list[Any]] = {}
    for text in overrides:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise UserError(f"-m {text!r}: expected key=value or key=v1,v2, e.g. "
                            "model.head=pool,spp")
        values = [load_yaml_text(part.strip(), f"-m {key}") for part in _split_top(raw)]
        if len(values) > 1:
            swept[key.strip()] = values
        else:
            set_dotted(base, key.strip(), values[0])
    if not swept:
        raise UserError("-m: no key has more than one value; give e.g. model.head=pool,spp "
                        "(or use spp-lab train for one run)")
    keys = list(swept)
    first = keys[0]
    leaf = first.split(".")[-1]
    conditions = {f"{leaf}={_label(v)}": {first: v} for v in swept[first]}
    out: dict[str, Any] = {
        "name": name or "m-" + "-".join(k.split(".")[-1] for k in keys),
        "description": "spp-lab run -m " + " ".join(overrides),
        "base": base, "conditions": conditions,
        "seeds": parse_seeds(seeds),
        "report": {"baseline": next(iter(conditions)),
                   "rows": keys[1] if len(keys) > 1 else "model.arch"}}
    if len(keys) > 1:
        out["grid"] = {k: swept[k] for k in keys[1:]}
    return out


def _label(v: Any) -> str:
    return "-".join(map(str, v)) if isinstance(v, list) else str(v)


class _Dumper(yaml.SafeDumper):
    """Lists of plain values in flow style (``[4, 2, 1]``), as people write them."""


def _list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(isinstance(v, (str, int, float, bool)) or v is None for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _list)


def as_yaml(raw: dict[str, Any]) -> str:
    """An experiment mapping as the YAML file that reproduces it."""
    return yaml.dump(raw, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
