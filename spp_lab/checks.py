"""Checks before any job runs (no torch): what would fail for a reason no retry fixes.

``ls``, ``run --dry-run``, ``run`` and ``train`` call :func:`check_configs` on every job's
config before the first one starts; a problem is a :class:`UserError` naming the key, the
value and what would work. Checked:

* geometry, by the registries' arithmetic: the architecture takes every input size the
  job will see (training sizes, every size of a random multi-size range, the evaluation
  view's sides, the test views); the head's own check passes at each conv map (``bins:
  paper`` gives n×n bins for every level; the ``pool`` head makes its k×k bins); a
  fixed-size head is never asked for another size (multi-size training, full images);
* data (:func:`check_data`): a root where the dataset needs one, and the dataset's own
  check (an image folder's classes, two images a class, a sample decoding); and the
  backbone's weights (:func:`spp_lab.models.weights.check`: in the library's cache, or a
  network to fetch them; a ``model.weights`` file). Data and weights live where the jobs
  run: listing commands only warn, a local run refuses, a cluster's jobs check them where
  they run;
* devices: ``train.accelerator: gpu`` needs a visible GPU (for local jobs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from spp_lab.data.registry import dataset_spec
from spp_lab.errors import UserError, warn
from spp_lab.models import arch_spec, head_spec, weights

DataCheck = Literal["error", "warn", "skip"]


def view_sides(data: Any, view: str | int) -> list[int]:
    """Every image side one evaluation view gives the network: a crop size, or the full
    images' sides (the dataset says; an image folder's long sides are known per image
    only, and all are ≥ its short side)."""
    if view != "full":
        return [int(view)]
    spec = dataset_spec(data.name)
    return spec.full_sides(data) if spec.full_sides else [data.image_size]


def eval_sides(data: Any) -> list[int]:
    """The sides of the validation (and standard test) view."""
    return view_sides(data, "full" if data.eval_mode == "full" else data.image_size)


def _sides(cfg: Any, fixed: bool) -> list[tuple[str, list[int]]]:
    size_key = "train.sizes" if cfg.schedule.multi else "data.image_size"
    out = [(size_key, cfg.schedule.all_sizes()), ("data.eval_mode", eval_sides(cfg.data))]
    if not fixed:  # a fixed-size head skips the other views (null scores)
        out += [("data.test_views", view_sides(cfg.data, v)) for v in cfg.data.test_views]
    return out


def _geometry(cfg: Any) -> list[str]:
    m, arch, head = cfg.model, arch_spec(cfg.model.arch), head_spec(cfg.model.head)
    problems: list[str] = []
    for key, sides in _sides(cfg, head.fixed_size):
        for side in sides:
            a = arch.map_size(m.stem, side)
            if a is None:
                ok = arch.min_side(m.stem)
                problems.append(f"{key}: {m.arch} (stem {m.stem}) cannot take {side}-px "
                                f"inputs: a layer's window is larger than its input; sides "
                                f"from {ok} px work")
            elif head.check and not (head.fixed_size and side != cfg.data.image_size):
                problems.append(head.check(m, a, side) or "")
    if head.fixed_size and any(s != cfg.data.image_size for s in eval_sides(cfg.data)):
        problems.append(f"data.eval_mode: head={m.head!r} is fixed-size and cannot score "
                        f"full images ({eval_sides(cfg.data)} px sides); use eval_mode: "
                        "crop or head='spp'")
    return list(dict.fromkeys(p for p in problems if p))


def check_data(data: Any) -> None:
    """The data a job reads exists and passes its dataset's own check."""
    spec = dataset_spec(data.name)
    if spec.needs_root and not data.root:
        raise UserError(f"data.root: required for data.name={data.name!r}; set it to the "
                        "dataset folder")
    if spec.check is not None:
        spec.check(data)


def check_configs(configs: Iterable[tuple[str, Any]], source: str, gpus: list | None = None,
                  data: DataCheck = "error") -> list[str]:
    """Every check above over ``(label, config)`` pairs (each distinct config once); the
    first problem raises a UserError naming ``source`` and the job's label. ``gpus``: the
    GPUs the jobs may use (None: unknown, as on a cluster). ``data``: a data problem is an
    ``error``, a warning (printed, and returned), or not looked for (``skip``: the jobs
    check it where they run)."""
    seen_geo, seen_data, warnings = set(), set(), []
    for label, cfg in configs:
        where = f"{source}: {label}: " if label else f"{source}: "
        geo = cfg.model_dump_json(include={"model", "data", "train"},
                                  exclude={"train": {"seed"}})
        if geo not in seen_geo:
            seen_geo.add(geo)
            problems = _geometry(cfg)
            if problems:
                raise UserError(where + "\n".join(problems[:3]))
            if cfg.train.accelerator == "gpu" and gpus is not None and not gpus:
                raise UserError(f"{where}train.accelerator: gpu, but this machine has no "
                                "visible GPU (nvidia-smi, CUDA_VISIBLE_DEVICES); use auto or "
                                "cpu")
        if data == "skip":
            continue
        for key, check, arg, what in (
                (cfg.data.model_dump_json(include={"name", "root", "download"}), check_data,
                 cfg.data, "data"),
                (cfg.model.model_dump_json(include={"arch", "pretrained", "weights"}),
                 weights.check, cfg.model, "weights")):
            if key in seen_data:
                continue
            seen_data.add(key)
            try:
                check(arg)
            except UserError as err:
                if data == "error":
                    raise UserError(f"{source}: {err}") from None  # the same for every job
                warnings.append(f"{source}: {err} (on this machine; each job checks its "
                                f"{what} where it runs)")
                warn(warnings[-1])
    return warnings
