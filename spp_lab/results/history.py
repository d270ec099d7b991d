"""``history.csv``: one row per epoch (no torch). Its columns are the epoch and its training
sizes, each registered measure of training and validation (:mod:`spp_lab.metrics`), the
learning rate and the epoch's speed. A history written with fewer columns (an older release,
before a metric was registered) reads with those columns empty; a column this release does
not know is kept as read. Epochs count from 1; 0.1.0's files, which counted from 0, read as
if from 1."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from spp_lab.fileio import Corrupt, write_atomic
from spp_lab.metrics import history_columns

TEXT_COLUMNS = ("train_size",)  # 24, or 24/32 for multi-size epochs


def history_fields() -> tuple[str, ...]:
    """``history.csv``'s columns, as this release writes them (plug-ins' measures too)."""
    return ("epoch", "train_size", *history_columns("train"), *history_columns("val"),
            "lr", "train_img_per_s", "epoch_time_s")


HISTORY_FIELDS = history_fields()  # the built-in columns (plug-ins may add more)


def read_history(path: Path) -> list[dict[str, Any]]:
    """The rows of ``path``, numbers parsed, one key per column this release knows (None
    where the file has no such column) and per column the file has besides; [] when
    absent; Corrupt if the header, a row or the epochs are off."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    except UnicodeDecodeError:
        raise Corrupt(path, "not text") from None
    lines = [r for r in csv.reader(text.splitlines()) if r]  # blank lines: none
    if not lines:
        return []
    header = lines[0]
    if header[:1] != ["epoch"] or len(set(header)) != len(header) or "" in header:
        raise Corrupt(path, "header is not epoch,… with each column named once")
    fields = list(dict.fromkeys([*history_fields(), *header]))
    shift = 1 if len(lines) > 1 and lines[1][:1] == ["0"] else 0  # 0.1.0 counted from 0
    return [_row(path, i, header, values, fields, shift)
            for i, values in enumerate(lines[1:])]


def _row(path: Path, i: int, header: list[str], values: list[str], fields: list[str],
         shift: int) -> dict[str, Any]:
    """Row ``i`` (0-based, after the header) parsed: text columns as text (``24`` or
    ``24/32``), missing trailing values None, the rest numbers; Corrupt if not."""
    if len(values) > len(header):
        raise Corrupt(path, f"row {i + 1} is not numbers")
    given, known = dict(zip(header, values)), set(history_fields())
    try:
        row = {k: (given.get(k) if k in TEXT_COLUMNS else
                   _number(given.get(k), strict=k in known)) for k in fields}
        row["epoch"] = int(values[0]) + shift
    except (TypeError, ValueError):
        raise Corrupt(path, f"row {i + 1} is not numbers") from None
    if row["epoch"] != i + 1:
        raise Corrupt(path, f"row {i + 1} is epoch {int(values[0])}, not {i + 1 - shift}")
    return row


def _number(text: str | None, strict: bool) -> float | str | None:
    """A history value: None if empty, a float, or (a column of a newer release) text."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        if strict:
            raise
        return text


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    """``rows`` as ``history.csv`` (atomically): this release's columns, then any other."""
    lines: list[str] = []

    class _Sink:
        def write(self, s: str) -> None:
            lines.append(s)

    fields = list(dict.fromkeys([*history_fields(), *(k for r in rows for k in r)]))
    w = csv.DictWriter(_Sink(), fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_atomic(path, "".join(lines))
