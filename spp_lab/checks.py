"""Checks before any job runs (no torch): what would fail for a reason no retry fixes.

``ls``, ``run --dry-run``, ``run`` and ``train`` call :func:`check_configs` on every job's
config before the first one starts; a problem is a :class:`UserError` naming the key, the
value and what would work. Checked:

* geometry, by the registry's arithmetic: the architecture takes every input size the job
  will see (training sizes, every size of a random multi-size range, the evaluation
  view's sides); ``bins: paper`` gives n×n bins for every level at each of those conv maps;
  the ``pool`` head can make its k×k bins at the training size and is never asked for
  another size (multi-size training, full-image evaluation);
* data: ``data.root`` exists for the datasets that need one; an image folder has class
  folders holding images, and a sample of its images decodes;
* devices: ``train.accelerator: gpu`` needs a visible GPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from spp_lab.errors import UserError
from spp_lab.layers.bins import fixed_window, paper_valid_levels, paper_window
from spp_lab.models import arch_spec

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp")
SHAPES_ASPECTS = (0.75, 1.0, 4 / 3)  # width / height of the embedded scenes (data/shapes.py)
_SAMPLE = 16  # images per folder that must decode


def view_sides(data: Any, view: str | int) -> list[int]:
    """Every image side one evaluation view gives the network: a crop size, or the full
    images' sides (an image folder's long sides are only known per image; all are ≥ its
    short side)."""
    if view != "full":
        return [int(view)]
    s = data.image_size
    if data.name == "shapes":
        return sorted({s, *(round(s * a) for a in SHAPES_ASPECTS if a > 1),
                       *(round(s / a) for a in SHAPES_ASPECTS if a < 1)})
    return [s]


def eval_sides(data: Any) -> list[int]:
    """The sides of the validation (and standard test) view."""
    return view_sides(data, "full" if data.eval_mode == "full" else data.image_size)


def _geometry(cfg: Any) -> list[str]:
    m, spec = cfg.model, arch_spec(cfg.model.arch)
    train_sides = cfg.schedule.all_sizes()
    size_key = "train.sizes" if cfg.schedule.multi else "data.image_size"
    views = [] if m.head == "pool" else [  # a fixed-size head skips other views (null)
        ("data.test_views", view_sides(cfg.data, v)) for v in cfg.data.test_views]
    problems = []
    for key, sides in ((size_key, train_sides), ("data.eval_mode", eval_sides(cfg.data)),
                       *views):
        for side in sides:
            a = spec.map_size(m.stem, side)
            if a is None:
                ok = next((s for s in range(1, 4097) if spec.map_size(m.stem, s)), None)
                problems.append(f"{key}: {m.arch} (stem {m.stem}) cannot take {side}-px "
                                f"inputs: a layer's window is larger than its input; sides "
                                f"from {ok} px work")
                continue
            if m.head == "spp" and m.bins == "paper":
                bad = [n for n in m.levels if paper_window(a, n) is None]
                if bad:
                    problems.append(
                        f"model.levels: bins='paper' cannot make {bad[0]}×{bad[0]} bins from "
                        f"the {a}×{a} conv map of {side}-px inputs ({key}); levels that work "
                        f"there: {paper_valid_levels(a)}; or model.bins: adaptive")
    if m.head == "pool":
        a = spec.map_size(m.stem, cfg.data.image_size)
        if a is not None and fixed_window(a, m.pool5_bins) is None:
            problems.append(f"model.pool5_bins: head='pool' cannot make {m.pool5_bins}×"
                            f"{m.pool5_bins} bins from the {a}-pixel conv map of "
                            f"{cfg.data.image_size}-px inputs; use pool5_bins ≤ {a}, a larger "
                            "data.image_size, or head='spp'")
        if any(side != cfg.data.image_size for side in eval_sides(cfg.data)):
            problems.append(f"data.eval_mode: head='pool' is fixed-size and cannot score "
                            f"full images ({eval_sides(cfg.data)} px sides); use "
                            "eval_mode: crop or head='spp'")
    return problems


def _first_images(folder: Path, k: int) -> list[Path]:
    """Up to ``k`` image files under ``folder``, without listing a whole large folder."""
    import os

    found: list[Path] = []
    for dirpath, _, files in os.walk(folder):
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTS):
                found.append(Path(dirpath) / name)
                if len(found) >= k:
                    return found
    return found


def _class_folders(root: Path, where: str) -> list[str]:
    classes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not classes:
        raise UserError(f"data.root: {where} has no class folders; expected "
                        f"{where}/<class>/<image> (extensions: {', '.join(IMAGE_EXTS)})")
    problems, sample = [], []
    for c in classes:
        files = _first_images(c, 2)
        if not files:
            problems.append(f"{c}")
        sample += files
    if problems:
        raise UserError(f"data.root: class folders without images: {', '.join(problems[:5])}"
                        + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))
    _decodes(sample[:: max(1, len(sample) // _SAMPLE)][:_SAMPLE])
    return [c.name for c in classes]


def _decodes(files: Iterable[Path]) -> None:
    from PIL import Image, UnidentifiedImageError

    for f in files:
        try:
            with Image.open(f) as im:
                im.convert("RGB").load()
        except (OSError, UnidentifiedImageError, ValueError) as err:
            raise UserError(f"data.root: {f} is not a readable image ({err})") from None


def check_data(data: Any) -> None:
    """The data a job reads exists and (for image folders) holds decodable images."""
    if data.name == "shapes":
        return
    if not data.root:
        raise UserError(f"data.root: required for data.name={data.name!r}; set it to the "
                        "dataset folder")
    root = Path(data.root).expanduser()
    if not root.is_dir():
        if data.download and data.name in ("cifar10", "caltech101"):
            return
        raise UserError(f"data.root: {root} does not exist"
                        + ("" if data.name == "imagefolder" else
                           f"; put {data.name} there (or set data.download: true)"))
    if data.name != "imagefolder":
        return
    if (root / "train").is_dir() and (root / "val").is_dir():
        train = _class_folders(root / "train", str(root / "train"))
        val = _class_folders(root / "val", str(root / "val"))
        if set(val) - set(train):
            raise UserError(f"data.root: {root}/val has classes that train/ lacks: "
                            f"{sorted(set(val) - set(train))[:5]}")
    else:
        _class_folders(root, str(root))


def check_configs(configs: Iterable[tuple[str, Any]], source: str,
                  gpus: list | None = None) -> None:
    """Every check above over ``(label, config)`` pairs (each distinct config once); the
    first problem raises a UserError naming ``source`` and the job's label. ``gpus``: the
    GPUs the jobs may use (None: unknown, as on a cluster)."""
    seen_geo, seen_data = set(), set()
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
        key = cfg.data.model_dump_json(include={"name", "root", "download"})
        if key not in seen_data:
            seen_data.add(key)
            try:
                check_data(cfg.data)
            except UserError as err:
                raise UserError(f"{source}: {err}") from None  # the same for every job
