"""User errors: one clear message naming the key or file, the bad value and what is allowed.

The CLI turns :class:`UserError` into that message and exit code 2, with no traceback.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


class UserError(Exception):
    """A mistake in the user's input (config, file, command line), not a bug."""


def load_yaml(path: str | Path) -> Any:
    """Safe-load a YAML file; a missing file or a syntax error becomes a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise UserError(f"{path}: YAML syntax error at {where}: {err.problem}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: YAML error: {err}") from None


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the sub-model that ``loc`` (minus its last part) points into."""
    for part in loc[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return []
        ann = model.model_fields[part].annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(model.model_fields) if model is not None else []


def format_loc(loc: tuple, prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out and not out.endswith("→") else str(part)
    return out or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_validation_error(
    err: ValidationError, model: type[BaseModel] | None = None, prefix: str = "", source: str = ""
) -> str:
    """One line per problem: ``source: key.path: message (got VALUE)``."""
    lines = []
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p))
        key = format_loc(loc, prefix)
        if e["type"] == "extra_forbidden":
            known = _fields_at(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            allowed = f" Allowed keys: {', '.join(known)}." if known else ""
            lines.append(f"{key}: unknown key{hint}{allowed}")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "value_error" and not loc:
            lines.append(msg)
            continue
        if e["type"] == "literal_error":
            msg = "must be one of " + msg.removeprefix("Input should be ")
        got = "" if e["type"] == "missing" else f" (got {_short(e.get('input'))})"
        lines.append(f"{key}: {msg}{got}")
    head = f"{source}: " if source else ""
    return "\n".join(head + line for line in lines)
