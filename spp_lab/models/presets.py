"""Named presets of the model switches (no torch): ``paper`` is the SPP-net paper's network,
``cpu`` the CPU-sized miniature that ``spp-lab train`` and experiment files start from.

    paper  stem paper, width 1.0, LRN (no batch norm), fc6/fc7 of 4096 with dropout 0.5,
           levels 6-3-2-1, pool5 6×6 bins, 224-px inputs (ZF-5: a 13×13 conv5 map)
    cpu    stem small, width 0.25, batch norm, fc 512, no dropout, levels 3-2-1, pool5 3×3
           bins, 64-px inputs (ZF-5: a 7×7 conv5 map); the run config's defaults

:func:`spp_lab.models.get_model` builds the ``paper`` preset by default, as timm's
``create_model`` and torchvision's ``get_model`` build the published network. ``cpu`` is
read from :class:`~spp_lab.models.settings.ModelConfig`'s defaults, so it cannot drift from
them. A switch an architecture does not use is left out of its preset (ResNet-50 has no
``width``): only the head's switches and the input size apply to it.
"""

from __future__ import annotations

from typing import Any

PAPER: dict[str, Any] = {"width": 1.0, "stem": "paper", "batchnorm": False, "fc_dim": 4096,
                         "dropout": 0.5, "levels": [6, 3, 2, 1], "pool5_bins": 6}
PAPER_SIZE = 224  # the paper's training input, px
PRESETS = ("paper", "cpu")


def preset(name: str) -> tuple[dict[str, Any], int | None]:
    """The model switches of preset ``name`` and its input side (None: the architecture's
    own, ``data.image_size``'s default)."""
    if name == "paper":
        return dict(PAPER), PAPER_SIZE
    if name == "cpu":
        from spp_lab.models.settings import ModelConfig

        fields = ModelConfig.model_fields
        return {k: fields[k].get_default(call_default_factory=True) for k in PAPER}, None
    raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")


def preset_for(name: str, arch: str) -> tuple[dict[str, Any], int | None]:
    """Preset ``name`` less the switches ``arch`` does not use (its options and the head
    switches stay), and the input side."""
    from spp_lab.models._api import HEAD_SWITCHES, arch_spec

    values, size = preset(name)  # an unknown preset first, then an unknown arch
    spec = arch_spec(arch)
    keep = {k: v for k, v in values.items() if k in spec.options or k in HEAD_SWITCHES}
    return keep, size if spec.source is None else None
