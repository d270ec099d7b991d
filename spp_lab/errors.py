"""User errors: one clear message naming the key or file, the bad value and what is allowed.

The CLI turns :class:`UserError` into that message and exit code 2, with no traceback.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


class UserError(Exception):
    """A mistake in the user's input (config, file, command line), not a bug; or a state of
    the machine the user must change (a full disk): one message, exit ``code``, no
    traceback."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


_warned: set[str] = set()


def warn(message: str, once: bool = True) -> None:
    """``spp-lab: warning: message`` on stderr (each message once per process)."""
    if once and message in _warned:
        return
    _warned.add(message)
    print(f"spp-lab: warning: {message}", file=sys.stderr, flush=True)


def last_line(err: BaseException) -> str:
    """An error's own message: a user error raised in a DataLoader worker reaches the job
    wrapped in the worker's traceback (``Caught BadImage in DataLoader worker ...``); its
    last line, less the exception's name, is the message."""
    text = str(err).strip()
    if "Original Traceback" not in text:
        return text
    line = text.splitlines()[-1]
    name, sep, rest = line.partition(": ")
    return rest if sep and "." in name and " " not in name else line


_MAX_FILE_BYTES = 1 << 20  # experiment and config files are a few KB
_MAX_NODES = 100_000  # values after alias expansion: an alias bomb stops here


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML (no tags that build objects) that refuses a key given twice in a mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool, type(None))):
                    raise yaml.constructor.ConstructorError(
                        None, None, "a mapping key must be a plain value", key_node.start_mark)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        f"while reading the mapping at line {node.start_mark.line + 1}", None,
                        f"duplicate key {key!r} (first at line {seen[key].line + 1}); give each "
                        "key once", key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _count_nodes(value: Any, budget: int = _MAX_NODES) -> int:
    """Values reachable from ``value`` with aliases expanded, stopping past ``budget``."""
    count, stack = 0, [value]
    while stack:
        v = stack.pop()
        count += 1
        if count > budget:
            return count
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return count


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text strictly (see :func:`load_yaml`); errors name ``source``."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506  (a safe loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        kind = "syntax error" if isinstance(err, (yaml.scanner.ScannerError,
                                                  yaml.parser.ParserError)) else "error"
        raise UserError(f"{source}: YAML {kind} at {where}: {err.problem}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{source}: YAML error: {str(err)[:200]}") from None
    if _count_nodes(data) > _MAX_NODES:
        from spp_lab.schema import MAX_JOBS

        raise UserError(f"{source}: more than {_MAX_NODES:,} values (counting YAML aliases "
                        f"expanded); no config needs that many, and an experiment may have "
                        f"at most {MAX_JOBS:,} jobs")
    return data


def load_yaml(path: str | Path) -> Any:
    """Safe-load a YAML file (no Python tags, no duplicate keys, no alias bombs); a missing,
    binary or oversized file or a syntax error becomes a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise UserError(f"{path}: {len(raw):,} bytes; a config or experiment file is YAML of "
                        f"at most {_MAX_FILE_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a YAML text file (not UTF-8)") from None
    if "\x00" in text:
        raise UserError(f"{path}: not a YAML text file (contains NUL bytes)")
    return load_yaml_text(text, str(path))


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
    """A bounded repr: a huge or deeply nested value never builds its whole text."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother = 3, 6, 6, 60, 60
    text = r.repr(value)
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
        if e["type"] == "value_error" and loc and msg.startswith(f"{loc[-1]}."):
            lines.append(key + msg[len(str(loc[-1])):])  # a section's check names its key
            continue
        if e["type"] == "literal_error":
            msg = "must be one of " + msg.removeprefix("Input should be ")
        got = "" if e["type"] == "missing" else f" (got {_short(e.get('input'))})"
        given = e.get("input")
        if e["type"] == "list_type" and isinstance(given, str) and "," in given:
            got += f"; write a list in brackets: {key}=[{given}]"
        lines.append(f"{key}: {msg}{got}")
    head = f"{source}: " if source else ""
    return "\n".join(head + line for line in lines)
