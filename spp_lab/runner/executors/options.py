"""The executors' settings as given on a command line or to the API (no torch):
``--slurm KEY=VALUE`` for each executor with settings, and a flag of its own for each
shorthand setting (``--workers 2``), sorted to the executor they belong to."""

from __future__ import annotations

from typing import Any

from spp_lab.errors import UserError, load_yaml_text


def executor_options(chosen: str, texts: dict[str, list[str]],
                     shorthands: dict[str, str | None]
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """The chosen executor's settings from ``texts`` (executor → its ``KEY=VALUE`` texts)
    and ``shorthands`` (setting → the flag's text, None where not given), and each key's
    label as written (for errors); a setting of another executor is an error, not ignored."""
    from spp_lab.config import parse_override
    from spp_lab.runner.executors.registry import shorthand_owner

    given: dict[str, dict[str, Any]] = {}
    labels: dict[str, str] = {}
    for name, items in texts.items():
        for text in items:
            key, value = parse_override(text)
            given.setdefault(name, {})[key] = value
            labels[key] = f"--{name} {key}"
    for key, name in shorthand_owner().items():
        if shorthands.get(key) is not None:
            flag = f"--{key.replace('_', '-')}"
            given.setdefault(name, {})[key] = load_yaml_text(shorthands[key], flag)
            labels[key] = flag
    for name, values in given.items():
        if name != chosen:
            flags = ", ".join(labels[k] for k in values)
            raise UserError(f"{flags}: a setting of the {name} executor, but this run uses "
                            f"--executor {chosen}; add --executor {name} or leave it out")
    return given.get(chosen, {}), labels
