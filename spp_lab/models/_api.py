"""The model and head registries, like torchvision's ``models/_api.py`` (no torch import).

Backbones register with ``@register_model("name", options=..., map_size=...)``; every
other library's network is found by name in :mod:`spp_lab.models.catalog` (``resnet50``,
``timm/convnext_nano``), and :func:`arch_spec` describes both alike:

* ``options``: the ``model.*`` switches the architecture uses (``width``, ``stem``,
  ``batchnorm``, ``fc_dim``, ``dropout``); the config refuses a non-default value of any
  other, so no switch is ever silently ignored. ``fixed`` names values an architecture has
  built in (ResNet-18's batch norm), which are accepted too.
* ``map_size(stem, size)``: the conv map's side for a ``size``-px input, or None where the
  trunk cannot take it; pure arithmetic, so every size a job will see is checked before
  it runs.
* ``weights_from``: the catalog name whose published weights it takes
  (``model.pretrained``; ResNet-18 takes torchvision's ``resnet18``), or None;
* the builder takes the options as keywords (and ``weights``, the tag of the published
  weights to load, where it has ``weights_from``) and returns a :class:`Trunk`.

Heads (what turns the conv map into a vector: the ablation's switch) register with
``@register_head("name", uses=..., fixed_size=..., width=...)``: one torch-free
:class:`HeadSpec` that config validation, the pre-run checks, packing, the tracking tags
and the network builder all read. ``spp_lab.models.get_model(name, **switches)`` builds a
network with the run config's defaults for what is not given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from spp_lab.registry import Registry

SWITCHES = ("width", "stem", "batchnorm", "fc_dim", "dropout")  # what an architecture uses
HEAD_SWITCHES = ("levels", "pool", "bins", "pool5_bins")  # what a head may use


class Trunk(NamedTuple):
    """What a backbone builder returns: the conv trunk (an ``nn.Module``), its output
    channels, the hidden fc layers' sizes between head and classifier, their dropout."""

    features: Any
    channels: int
    fc_dims: tuple[int, ...]
    dropout: float


CPU_SIZE = 64  # the input side of the registered networks' CPU-sized defaults, px


@dataclass(frozen=True)
class ArchSpec:
    name: str
    builder: Callable[..., Trunk]
    options: frozenset[str]
    map_size: Callable[[str, int], int | None]
    fixed: dict[str, Any] = field(default_factory=dict)
    weights_from: str | None = None  # the catalog name whose published weights it takes
    input_size: int = CPU_SIZE  # data.image_size's default for it, px
    source: str | None = None  # the library it comes from (None: registered here)
    smallest: int | None = None  # a catalog network's smallest input side, as measured

    def min_side(self, stem: str) -> int | None:
        """The smallest input side it takes (None: none up to 4096 px)."""
        if self.source is not None:
            return self.smallest
        return next((s for s in range(1, 4097) if self.map_size(stem, s)), None)


@dataclass(frozen=True)
class HeadSpec:
    """A head, declared once.

    * ``build(model, channels, map_size, train_size)``: the ``nn.Module`` (torch inside);
      ``map_size`` is the conv map's (h, w) at ``train_size`` px, the training input side;
    * ``width(channels, model)``: its output width, by arithmetic;
    * ``uses``: the ``model.*`` head switches it reads (:data:`HEAD_SWITCHES`); a grid
      value of another one is dropped from its jobs, so it costs no job;
    * ``fixed_size``: it takes only its training size (no multi-size training, no other
      evaluation view);
    * ``pools``: the ``model.pool`` values it takes (None: every pool type);
    * ``check(model, map_side, input_side)``: a problem at a size a job will see (a text
      naming the switch and what would work), or None;
    * ``settings``: a pydantic model of its own settings, given as ``model.head_args``.
    """

    name: str
    build: Callable[..., Any]
    width: Callable[[int, Any], int]
    uses: frozenset[str]
    fixed_size: bool = False
    pools: tuple[str, ...] | None = None
    check: Callable[[Any, int, int], str | None] | None = None
    settings: Any = None
    description: str = ""


_MODELS: Registry[ArchSpec] = Registry("model")
_HEADS: Registry[HeadSpec] = Registry("head")


def register_model(name: str, *, options: tuple[str, ...], map_size: Callable[[str, int],
                   int | None], fixed: dict[str, Any] | None = None,
                   weights_from: str | None = None
                   ) -> Callable[[Callable[..., Trunk]], Callable[..., Trunk]]:
    unknown = set(options) - set(SWITCHES)
    if unknown:
        raise ValueError(f"model {name!r}: unknown options {sorted(unknown)}; "
                         f"allowed: {', '.join(SWITCHES)}")

    def wrap(builder: Callable[..., Trunk]) -> Callable[..., Trunk]:
        _MODELS.add(name, ArchSpec(name, builder, frozenset(options), map_size, fixed or {},
                                   weights_from))
        return builder

    return wrap


def register_head(name: str, *, uses: tuple[str, ...], width: Callable[[int, Any], int],
                  fixed_size: bool = False, pools: tuple[str, ...] | None = None,
                  check: Callable[[Any, int, int], str | None] | None = None,
                  settings: Any = None, description: str = ""
                  ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``build(model, channels, map_size, train_size) -> nn.Module`` as head
    ``name`` (see :class:`HeadSpec` for the rest)."""
    unknown = set(uses) - set(HEAD_SWITCHES)
    if unknown:
        raise ValueError(f"head {name!r}: unknown switches {sorted(unknown)}; "
                         f"allowed: {', '.join(HEAD_SWITCHES)}")

    def wrap(build: Callable[..., Any]) -> Callable[..., Any]:
        _HEADS.add(name, HeadSpec(name, build, width, frozenset(uses), fixed_size, pools,
                                  check, settings, description or (build.__doc__ or "")))
        return build

    return wrap


def list_models() -> list[str]:
    """The registered names, in registration order (the catalog's come besides:
    :func:`spp_lab.models.catalog.all_names`)."""
    return list(_MODELS)


def list_heads() -> list[str]:
    """Names accepted by ``model.head``, in registration order."""
    return list(_HEADS)


def arch_spec(name: str) -> ArchSpec:
    """A registered architecture, else a catalog network's (a ValueError with close matches
    where neither has ``name``)."""
    if name in _MODELS:
        return _MODELS[name]
    return _catalog_spec(name)


def _catalog_spec(name: str) -> ArchSpec:
    from spp_lab.models import catalog

    catalog.lookup(name, list_models())  # raises for an unknown name, with close ones
    facts = catalog.facts(name)

    def build(weights: str | None = None) -> Trunk:
        features, channels = catalog.build(name, weights)
        return Trunk(features, channels, (), 0.0)

    def map_size(stem: str, size: int) -> int | None:
        return catalog.map_side(name, size)

    return ArchSpec(name, build, frozenset(), map_size, weights_from=name,
                    input_size=int(facts["input_size"]), source=catalog.lookup(name)[0].name,
                    smallest=facts.get("min_side"))


def head_spec(name: str) -> HeadSpec:
    return _HEADS.lookup(name)
