"""Image folders as users have them (no torch): ``root/<class>/.../<image>``.

Hidden entries (names starting with ``.``, such as ``.DS_Store`` and
``.ipynb_checkpoints``, and macOS's ``__MACOSX``) are skipped everywhere; a file whose
extension is not an image's (:data:`IMAGE_EXTS`) is ignored and counted; a folder needs
at least two classes. A root that holds no class folder with an image at all (a wrong
root) gets one line, not a list of every folder it holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from spp_lab.data.registry import IMAGE_EXTS
from spp_lab.errors import UserError

SKIPPED_NAMES = ("__MACOSX",)


def hidden(name: str) -> bool:
    """A name the scan skips: dot files and folders, ``__MACOSX``."""
    return name.startswith(".") or name in SKIPPED_NAMES


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTS)


@dataclass
class Scan:
    """One folder's images: ``files[i]`` of class ``classes[labels[i]]``; ``ignored`` are
    the files that are not images (by extension), kept for the count and the message."""

    files: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)


def class_folders(root: Path) -> list[str]:
    """The class folder names under ``root``, sorted, hidden ones left out."""
    try:
        with os.scandir(root) as entries:
            return sorted(e.name for e in entries if e.is_dir() and not hidden(e.name))
    except (FileNotFoundError, NotADirectoryError):
        return []


def walk_images(folder: Path, limit: int | None = None,
                ignored: list[Path] | None = None) -> list[Path]:
    """Image files under ``folder`` (any depth, sorted, hidden entries skipped); stops at
    ``limit``; non-image files go to ``ignored``."""
    found: list[Path] = []
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not hidden(d))
        for name in sorted(files):
            if hidden(name):
                continue
            if is_image(name):
                found.append(Path(dirpath) / name)
                if limit is not None and len(found) >= limit:
                    return found
            elif ignored is not None:
                ignored.append(Path(dirpath) / name)
    return found


def scan(root: Path, classes: list[str] | None = None, key: str = "data.root") -> Scan:
    """Every image under ``root/<class>/``. With ``classes`` (a train split's), labels
    index into them: a val or test folder lacking a class keeps the others' labels."""
    found = class_folders(root)
    names = classes if classes is not None else found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise UserError(f"{key}: {root} has class folders the training split lacks: "
                        f"{unknown[:5]}")
    nested_root(root, found, key)
    out, empty = Scan(classes=list(names)), []
    for name in found:
        files = walk_images(root / name, ignored=out.ignored)
        out.files += files
        out.labels += [names.index(name)] * len(files)
        empty += [] if files else [name]
    require_classes(root, found, empty, key, two=classes is None)
    return out


def _direct(folder: Path) -> tuple[bool, list[str]]:
    """(whether ``folder`` holds an image itself, its visible subfolders)."""
    try:
        with os.scandir(folder) as entries:
            items = [(e.name, e.is_dir()) for e in entries if not hidden(e.name)]
    except OSError:
        return False, []
    return any(not d and is_image(n) for n, d in items), sorted(n for n, d in items if d)


def nested_root(root: Path, classes: list[str], key: str = "data.root") -> None:
    """Refuse a root one level too high: no "class" holds an image of its own, and they
    hold folders of images, two or more in one of them (a folder of datasets)."""
    inner: dict[str, list[str]] = {}
    for name in classes:
        own, subs = _direct(root / name)
        if own:
            return
        inner[name] = [s for s in subs if walk_images(root / name / s, limit=1)]
    if not any(len(v) >= 2 for v in inner.values()) or not all(inner.values()):
        return
    first = next(c for c, v in inner.items() if len(v) >= 2)
    shown = ", ".join(f"{c}/{s}" for c in inner for s in inner[c][:2])
    raise UserError(f"{key}: {root} looks one level too high: its folders "
                    f"({', '.join(classes[:4])}{', ...' if len(classes) > 4 else ''}) hold "
                    f"folders of images, not images ({shown}, ...); set {key} to one of "
                    f"them, e.g. {root / first}")


def require_classes(root: Path, found: list[str], empty: list[str], key: str = "data.root",
                    two: bool = True) -> None:
    """Refuse a root where no class folder holds an image (one line), class folders
    without images (named), and (``two``) fewer than two classes."""
    if len(empty) == len(found) or (len(empty) > 20 and len(empty) * 2 > len(found)):
        # a wrong root (a home folder, a projects folder): one line, not a list of them
        what = ("it holds no class folder" if not found else
                f"none of its {len(found)} folders holds an image" if len(empty) == len(found)
                else f"{len(empty)} of its {len(found)} folders hold no image")
        raise UserError(f"{key}: {root} is not an image folder: {what}; expected "
                        f"{root}/<class>/<image> (extensions: {', '.join(IMAGE_EXTS)})")
    if empty:
        raise UserError(f"{key}: class folders without images: "
                        f"{', '.join(str(root / e) for e in empty[:5])}"
                        + (f" (+{len(empty) - 5} more)" if len(empty) > 5 else ""))
    if two and len(found) < 2:
        raise UserError(f"{key}: {root} has one class folder ({found[0]!r}); a classifier "
                        "needs at least two")


class BadImage(UserError):
    """A file of an image folder that does not decode: a user error naming the file (not
    retried). Raised in a loader worker, it reaches the job with the worker's traceback
    around it; :func:`spp_lab.errors.last_line` recovers the message."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def bad_image(path: Path, err: Exception) -> BadImage:
    why = str(err).strip() or type(err).__name__
    return BadImage(f"data.root: {path} is not a readable image ({why}); remove or replace it, "
                    "or set data.skip_bad: true (spp-lab check-data FILE lists every bad "
                    "file)", path)


def decode(path: Path):
    """The RGB PIL image of ``path``, fully decoded; :class:`BadImage` if it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            rgb.load()
            return rgb
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError,
            SyntaxError) as err:
        raise bad_image(path, err) from None
