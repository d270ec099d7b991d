"""Building blocks of the typed settings (pydantic, no torch): strict scalar types, a base
model that refuses unknown keys, and names checked against a registry when validated.

A registry-backed field (``model.arch``, ``model.head``, ``data.name``) is checked when a
config is validated, not when this module is imported, so a plug-in registered later
(``SPP_LAB_PLUGINS``) is accepted like a built-in; ``spp-lab train --help`` lists the names
registered at that moment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict


def _no_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("expected a number, not a boolean")
    return v


MAX_JOBS = 10_000  # jobs one experiment may expand to: refused before it is expanded

Int = Annotated[int, Strict()]  # 3, never 3.0, "3" or true
PosInt = Annotated[int, Strict(), Field(gt=0)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
Num = Annotated[float, BeforeValidator(_no_bool)]  # finite (Strict models forbid inf and nan)
Bool = Annotated[bool, Strict()]


def _folder_name(v: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_.-]+", v) is None or not v.strip("."):
        bad = sorted({c for c in v if not (c.isascii() and (c.isalnum() or c in "_.-"))})
        why = f"it has {' '.join(map(repr, bad))}" if bad else "it is empty, '.' or '..'"
        raise ValueError(f"must be a plain folder name (letters, digits, _ - .), but {why}: "
                         "results go to results/<name>/")
    return v


FolderName = Annotated[str, Strict(), AfterValidator(_folder_name)]  # one path component


def choice(names: tuple[str, ...]) -> Any:
    """A Literal type of ``names`` (a fixed tuple, such as the pool types)."""
    return Literal[names]  # type: ignore[valid-type]


def one_of_text(names: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``, as pydantic words a Literal's choices."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


class OneOf:
    """Annotated metadata of a name that must be registered in ``names()`` when validated
    (or, with ``other``, pass ``other(value)``, which raises a ValueError saying why not);
    ``choices()`` is what ``--help`` lists."""

    def __init__(self, names: Callable[[], Iterable[str]],
                 other: Callable[[str], Any] | None = None) -> None:
        self.names, self.other = names, other

    def choices(self) -> list[str]:
        return list(self.names())

    def __call__(self, value: str) -> str:
        names = self.choices()
        if value in names:
            return value
        if self.other is None:
            raise ValueError(f"must be one of {one_of_text(names)}")
        self.other(value)
        return value


def registered(names: Callable[[], Iterable[str]],
               other: Callable[[str], Any] | None = None) -> Any:
    """A str type whose value must be one of ``names()`` at validation time (or pass
    ``other``, such as a catalog of other libraries' names)."""
    check = OneOf(names, other)
    return Annotated[str, Strict(), AfterValidator(check), check]


def field_choices(field: Any) -> list[str]:
    """The registered names of a registry-backed field (``[]`` for any other field)."""
    for meta in getattr(field, "metadata", ()):
        if isinstance(meta, OneOf):
            return meta.choices()
    return []


class StrictModel(BaseModel):
    """Unknown keys are errors, assignments are validated, numbers are finite."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def default_of(model: type[BaseModel], name: str) -> Any:
    """A field's default (its factory called): the one source library functions read."""
    return model.model_fields[name].get_default(call_default_factory=True)
