"""The model switches as a pydantic model (no torch): ``ModelConfig``, the run config's
``model`` section; its defaults are the ``cpu`` preset (:mod:`spp_lab.models.presets`).

``model.arch`` and ``model.head`` are checked against the registries (and ``model.arch``
against the catalog of torchvision and timm networks) when a config is validated, so a
registered plug-in is accepted like a built-in; a switch the architecture does not use is
refused unless it is at its default, and a head's own settings (``model.head_args``) are
checked against the head's schema. ``model.pretrained: true`` is resolved to the weights'
tag here, so the run id names the weights.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, model_validator

from spp_lab.layers.choices import BIN_MODES, POOL_TYPES, STEMS
from spp_lab.layers.settings import PYRAMID, PyramidSettings
from spp_lab.models._api import SWITCHES, arch_spec, head_spec, list_heads, list_models
from spp_lab.models.catalog import lookup
from spp_lab.schema import Bool, Num, PosInt, StrictModel, choice, registered

_PYRAMID_FIELDS = PyramidSettings.model_fields


class ModelConfig(StrictModel):
    arch: registered(list_models, lambda name: lookup(name, list_models())) = Field(
        "zf5", description="backbone: a registered one, a torchvision classification network "
                           "by its name (resnet50, convnext_tiny, efficientnet_b0, ...) or a "
                           "timm one as timm/<name> (timm/convnext_nano)")
    width: Num = Field(0.25, gt=0, le=4, description=(
        "multiplier on channels and fc sizes (1.0: the paper's widths)"))
    stem: choice(STEMS) = Field(
        "small", description="conv1 3×3 stride 1 for 32-96 px images, or as in the paper "
                             "(paper: for 224 px)")
    batchnorm: Bool = Field(True, description=(
        "batch norm after each conv, replacing LRN (false: the paper's LRN)"))
    head: registered(list_heads) = Field(
        "spp", description="spp: pyramid; pool: fixed pool5 (no-SPP baseline); global: 1×1")
    levels: list[PosInt] = Field(list(PYRAMID.levels), min_length=1,
                                 description=_PYRAMID_FIELDS["levels"].description)
    pool: choice(POOL_TYPES) = Field(PYRAMID.pool, description=_PYRAMID_FIELDS["pool"].description)
    bins: choice(BIN_MODES) = Field(PYRAMID.bins, description=_PYRAMID_FIELDS["bins"].description)
    pool5_bins: PosInt = Field(3, description=(
        "pool head: k×k bins at the training size (the paper's 6 for a 13×13 map; 3: window "
        "3, stride 2 over the defaults' 7×7 map, as the paper's over 13×13)"))
    fc_dim: PosInt = Field(512, description=(
        "fc6/fc7 units before the width multiplier (the paper's 4096)"))
    dropout: Num = Field(0.0, ge=0, lt=1, description="dropout after fc6 and fc7 (the "
                                                        "paper's 0.5)")
    head_args: dict[str, Any] = Field(
        {}, description="a registered head's own settings (its schema); {} for the built-ins")
    pretrained: Bool | str = Field(False, description=(
        "the backbone's published weights: false (random), true (the library's default, "
        "resolved to its tag) or a tag (torchvision: IMAGENET1K_V2; timm: in12k_ft_in1k), "
        "loaded from the torch hub or Hugging Face cache; their mean and std normalise the "
        "input"))
    weights: str | None = Field(None, min_length=1, description=(
        "a local file of backbone weights (.safetensors, .pt/.pth, or a run's "
        "checkpoints/last.ckpt); its SHA-256 is part of the run id"))

    @model_validator(mode="after")
    def _switches_the_arch_and_head_use(self) -> ModelConfig:
        spec = arch_spec(self.arch)
        for key in SWITCHES:
            value, default = getattr(self, key), type(self).model_fields[key].default
            if key in spec.options or value == default or spec.fixed.get(key) == value:
                continue
            raise ValueError(f"model.{key}: {self.arch} does not use {key} (got {value!r}); "
                             f"leave it at {default!r}. {self.arch} uses: "
                             f"{', '.join(sorted(spec.options)) or 'none of them'}")
        head = head_spec(self.head)
        if head.pools is not None and self.pool not in head.pools:
            raise ValueError(f"model.pool: head={self.head!r} takes pool "
                             f"{' or '.join(map(repr, head.pools))}, got {self.pool!r}")
        self._check_head_args(head)
        self._resolve_weights(spec)
        return self

    def _resolve_weights(self, spec: Any) -> None:
        from spp_lab.models.weights import resolve_tag

        if self.pretrained is False:
            return
        if spec.weights_from is None:
            resolve_tag(self.arch, self.pretrained)  # raises: no published weights
        if self.weights is not None:
            raise ValueError("model.pretrained and model.weights: give one source of "
                             "weights, not both")
        if "stem" in spec.options and self.stem != "paper":
            raise ValueError(f"model.pretrained: {self.arch}'s published weights are for its "
                             f"own stem; set model.stem: paper (got {self.stem!r})")
        self.__dict__["pretrained"] = resolve_tag(self.arch, self.pretrained)  # no re-check

    def _check_head_args(self, head: Any) -> None:
        if head.settings is None:
            if self.head_args:
                raise ValueError(f"model.head_args: head={self.head!r} has no settings of its "
                                 f"own (got {self.head_args!r}); leave it at {{}}")
            return
        try:
            head.settings.model_validate(self.head_args)
        except ValidationError as err:
            e = err.errors(include_url=False)[0]
            where = ".".join(map(str, e["loc"]))
            raise ValueError(f"model.head_args.{where}: {e['msg']} (head {self.head!r})"
                             ) from None

    def head_settings(self) -> Any:
        """The head's own settings, validated (None for a head without any)."""
        head = head_spec(self.head)
        return None if head.settings is None else head.settings.model_validate(self.head_args)
