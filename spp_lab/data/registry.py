"""The dataset registry (no torch): each dataset registers its name, class count, whether
it needs a root, its pre-run check and how it makes its splits, in one file of
``spp_lab/data/sets/`` (or a plug-in, ``SPP_LAB_PLUGINS``).

    @register_dataset("mine", classes=lambda data: 10, needs_root=True, check=my_check)
    def load(data, train_seed) -> Splits: ...

``load(data, train_seed)`` (torch inside) returns a :class:`~spp_lab.data.splits.Splits`;
``check(data)`` runs before any job starts (locally) or in the job (on a cluster), raising a
``UserError`` that names the key, the bad value and what would work; ``classes(data)`` is
the class count without reading the data (None where only the data knows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp_lab.errors import UserError
from spp_lab.registry import Registry

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset, declared once (see the module docstring).

    * ``full_sides(data)``: every image side the ``full`` evaluation view gives the network
      (the pre-run checks test each against the architecture); None: ``[image_size]``;
    * ``device_decode``: it reads JPEG files that ``data.decode: device`` can decode on the
      training device;
    * ``downloads``: it honours ``data.download``;
    * ``uses``: the dataset-specific ``data.*`` settings it reads (of :data:`SPECIFIC`);
      the others cannot change its numbers, so a run id never depends on their defaults;
    * ``files(data)``: every image file it reads (``spp-lab check-data`` decodes each);
      None: nothing to decode (procedural data, or read through another library);
    * ``train_count(data, enough)``: the training split's size, or any number ≥ ``enough``
      once that many are certain (for ``data.batch_size: auto``); None: not known here;
    * ``census(data)``: ``{split: {class: images}}`` as found on disk (``check-data`` prints
      it, so a wrong root shows), or None.
    """

    name: str
    load: Callable[[Any, int], Any]
    classes: Callable[[Any], int | None]
    needs_root: bool = False
    check: Callable[[Any], None] | None = None
    full_sides: Callable[[Any], list[int]] | None = None
    device_decode: bool = False
    downloads: bool = False
    uses: frozenset[str] = frozenset()
    description: str = ""
    files: Callable[[Any], list[Any]] | None = None
    train_count: Callable[[Any, int], int | None] | None = None
    census: Callable[[Any], dict[str, dict[str, int]]] | None = None


# data.* settings that only some datasets read (the rest, such as image_size, every one).
SPECIFIC = ("root", "download", "num_train", "num_val", "num_test", "val_fraction",
            "resample", "scale", "gap", "test_fraction", "decode", "skip_bad")
_DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(name: str, *, classes: Callable[[Any], int | None],
                     needs_root: bool = False, check: Callable[[Any], None] | None = None,
                     full_sides: Callable[[Any], list[int]] | None = None,
                     device_decode: bool = False, downloads: bool = False,
                     uses: tuple[str, ...] = (), description: str = "",
                     files: Callable[[Any], list[Any]] | None = None,
                     train_count: Callable[[Any, int], int | None] | None = None,
                     census: Callable[[Any], dict[str, dict[str, int]]] | None = None
                     ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    unknown = set(uses) - set(SPECIFIC)
    if unknown:
        raise ValueError(f"dataset {name!r}: unknown settings {sorted(unknown)}; allowed: "
                         f"{', '.join(SPECIFIC)}")

    def wrap(load: Callable[..., Any]) -> Callable[..., Any]:
        _DATASETS.add(name, DatasetSpec(name, load, classes, needs_root, check, full_sides,
                                        device_decode, downloads, frozenset(uses),
                                        description or (load.__doc__ or "").strip(), files,
                                        train_count, census))
        return load

    return wrap


def list_datasets() -> list[str]:
    return list(_DATASETS)


def dataset_spec(name: str) -> DatasetSpec:
    return _DATASETS.lookup(name)


def data_root(data: Any, must_exist: bool = True) -> Path:
    """``data.root`` as a path; a UserError naming the key where it is unset or (with
    ``must_exist``) not a folder."""
    if not data.root:
        raise UserError(f"data.root: required for data.name={data.name!r}; set it to the "
                        "dataset folder")
    root = Path(data.root).expanduser()
    if must_exist and not root.is_dir():
        raise UserError(f"data.root: {root} does not exist")
    return root
