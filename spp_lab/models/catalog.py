"""Backbones of other libraries by name (torchvision's ``resnet50``, ``timm/convnext_nano``),
and what spp-lab needs to know of them without importing torch (no torch at import).

A *source* (``models/sources/``, one file each; a plug-in can register more) names a
library's classification networks and, importing the library when asked, measures each one:
its conv map's channels and side for an input side (a forward pass on torch's meta device,
so the network itself says, not a table), the input size, mean and std of its weights, their
tags. The answers are kept in ``$XDG_CACHE_HOME/spp-lab/backbones/`` (a file per source,
installed library version and format of the facts), so ``spp-lab ls`` and the pre-run size
checks read a file after the first time instead of importing torch.

    >>> lookup("timm/convnext_nano")[1], lookup("resnet50")[1]  # doctest: +SKIP
    ('convnext_nano', 'resnet50')
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from spp_lab.fileio import cache_dir, write_atomic
from spp_lab.registry import Registry

FORMAT = 1  # of the cache's facts: a new one starts a new file


@dataclass(frozen=True)
class Source:
    """A library of backbones. The callables import the library (and torch):

    * ``names()``: its classification networks' names;
    * ``describe(name)``: ``{"channels", "input_size", "min_side", "weights": {tag: {"mean",
      "std", "input_size", "file"...}}, "default": tag | None}``;
    * ``map_sides(name, sides)``: the conv map's side for each input side (None: too small);
    * ``build(name, tag)``: the network less its final pooling and classifier (a module
      returning the conv map), with the weights of ``tag`` (None: random) from the
      library's own loader and cache.
    """

    name: str
    prefix: str  # how names of this source are written: "timm/" or "" (torchvision)
    library: str  # the distribution whose version keys the cache
    names: Callable[[], list[str]]
    describe: Callable[[str], dict[str, Any]]
    map_sides: Callable[[str, list[int]], dict[int, int | None]]
    build: Callable[[str, str | None], Any]


_SOURCES: Registry[Source] = Registry("backbone source")


def register_source(source: Source) -> Source:
    return _SOURCES.add(source.name, source)


def sources() -> list[Source]:
    return list(_SOURCES.values())


class _Cache:
    """One source's answers on disk, keyed by the library's installed version."""

    def __init__(self, source: Source) -> None:
        self.source = source
        try:
            self.version: str | None = metadata.version(source.library)
        except metadata.PackageNotFoundError:
            self.version = None
        self.path = cache_dir() / "backbones" / f"{source.name}-{self.version}-v{FORMAT}.json"
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            try:
                self._data = json.loads(self.path.read_text())
                assert isinstance(self._data, dict)
            except (OSError, ValueError, AssertionError):
                self._data = {}
        return self._data

    def save(self) -> None:
        try:
            write_atomic(self.path, json.dumps(self.data, sort_keys=True))
        except OSError:
            pass  # a cache that cannot be written only costs time

    def require(self) -> None:
        if self.version is None:
            raise ValueError(f"model.arch: {self.source.prefix or self.source.name + ' '}"
                             f"names need the {self.source.library} package: pip install "
                             f"{self.source.library}")

    def names(self) -> list[str]:
        if "names" not in self.data:
            self.require()
            self.data["names"] = sorted(self.source.names())
            self.save()
        return self.data["names"]

    def facts(self, name: str) -> dict[str, Any]:
        nets = self.data.setdefault("nets", {})
        if name not in nets:
            self.require()
            try:
                nets[name] = self.source.describe(name)
            except ValueError as err:  # not a CNN (a ViT's tokens): remembered too
                nets[name] = {"error": str(err)}
            self.save()
        if "error" in nets[name]:
            raise ValueError(nets[name]["error"])
        return nets[name]

    def sides(self, name: str, sides: list[int]) -> dict[int, int | None]:
        known = self.facts(name).setdefault("sides", {})
        todo = sorted({s for s in sides if str(s) not in known})
        if todo:
            known |= {str(k): v for k, v in self.source.map_sides(name, todo).items()}
            self.save()
        return {s: known[str(s)] for s in sides}


_CACHES: dict[str, _Cache] = {}


def _cache(source: Source) -> _Cache:
    if source.name not in _CACHES:
        _CACHES[source.name] = _Cache(source)
    return _CACHES[source.name]


def lookup(arch: str, registered: list[str] | tuple[str, ...] = ()) -> tuple[Source, str]:
    """The source of ``arch`` and the library's own name for it (prefix removed); a
    ValueError with close matches (among them the ``registered`` names) where no source
    has it."""
    for source in sorted(sources(), key=lambda s: -len(s.prefix)):  # longest prefix first
        if source.prefix and not arch.startswith(source.prefix):
            continue
        name = arch[len(source.prefix):]
        cache = _cache(source)
        if source.prefix:
            cache.require()
        elif cache.version is None:
            continue
        if name in cache.names():
            return source, name
        if source.prefix:
            raise ValueError(_unknown(arch, [source.prefix + n for n in cache.names()],
                                      registered))
    raise ValueError(_unknown(arch, all_names(listed_only=True), registered))


def all_names(listed_only: bool = False) -> list[str]:
    """Every name the installed sources give (imports a library the first time only);
    ``listed_only``: a prefixed source's only where its names are cached already."""
    out: list[str] = []
    for source in sources():
        cache = _cache(source)
        if cache.version is None or (listed_only and source.prefix and "names" not in
                                     cache.data):
            continue
        out += [source.prefix + n for n in cache.names()]
    return out


def _unknown(arch: str, names: list[str], registered: list[str] | tuple[str, ...]) -> str:
    close = [n for n in names if n.endswith("/" + arch)][:1]  # a timm name without timm/
    close += difflib.get_close_matches(arch, names + list(registered), n=5, cutoff=0.6)
    close = list(dict.fromkeys(close))[:5]
    hint = f"; close: {', '.join(close)}" if close else ""
    prefixes = ", ".join(f"{s.prefix}<name> ({s.library})" if s.prefix else
                         f"a {s.library} name" for s in sources())
    return (f"unknown model {arch!r}{hint}. Models: {', '.join(registered)}, {prefixes} "
            "(spp-lab models lists them)")


def facts(arch: str) -> dict[str, Any]:
    """What the source measured of ``arch`` (see :class:`Source`)."""
    source, name = lookup(arch)
    return _cache(source).facts(name)


def map_side(arch: str, side: int) -> int | None:
    """The conv map's side for a ``side``-px input (None: a layer cannot take it)."""
    source, name = lookup(arch)
    return _cache(source).sides(name, [side])[side]


def build(arch: str, tag: str | None) -> tuple[Any, int]:
    """``(features, channels)`` of ``arch`` with the weights of ``tag`` (torch)."""
    source, name = lookup(arch)
    return source.build(name, tag), int(_cache(source).facts(name)["channels"])


def weights_of(arch: str, tag: str) -> dict[str, Any]:
    """The facts of ``arch``'s weights ``tag``: mean, std, input size, where the file is."""
    found = facts(arch)["weights"]
    if tag not in found:
        raise ValueError(f"model.pretrained: {arch} has no weights {tag!r}; its weights: "
                         f"{', '.join(found) or 'none'} (true: {facts(arch)['default']})")
    return found[tag]
