"""timm's networks as ``timm/<name>`` (``timm/convnext_nano``, ``timm/resnet18d``), with their
pretrained configs (``timm/convnext_nano`` + ``model.pretrained: in12k_ft_in1k``) loaded by
timm's own loader from the Hugging Face cache (``$HF_HOME/hub``).

The network is built without its classifier and global pool (``num_classes=0,
global_pool=""``) and called through ``forward_features``, timm's own cut before the head;
a channels-last map (Swin) is turned to ``(C, h, w)``. A network whose features are tokens
(a ViT) is refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from spp_lab.models.catalog import Source, register_source


def _names() -> list[str]:
    import timm

    return timm.list_models()


def _features(model: Any) -> Any:
    from torch import nn

    class TimmMap(nn.Module):
        """A timm network's ``forward_features``: the map before its head, ``(N, C, h, w)``."""

        def __init__(self, body: nn.Module) -> None:
            super().__init__()
            self.body = body
            self.nhwc = getattr(body, "output_fmt", "NCHW") == "NHWC"

        def forward(self, x):
            out = self.body.forward_features(x)
            return out.permute(0, 3, 1, 2) if self.nhwc and out.dim() == 4 else out

    return TimmMap(model)


def _create(name: str, pretrained: bool = False, file: str | None = None) -> Any:
    import timm

    overlay = {"file": file} if file else None  # timm's loader, from the cached file
    return timm.create_model(name, pretrained=pretrained, num_classes=0, global_pool="",
                             pretrained_cfg_overlay=overlay)


@lru_cache(maxsize=8)
def _meta_features(name: str) -> Any:
    from spp_lab.models.sources.cut import on_meta

    return _features(on_meta(lambda: _create(name)))


def _weights(name: str) -> tuple[dict[str, Any], str | None]:
    from timm.models import get_arch_pretrained_cfgs, get_pretrained_cfg

    found = {}
    for full, cfg in get_arch_pretrained_cfgs(name).items():
        tag = full.partition(".")[2]
        if not tag:
            continue
        found[tag] = {"mean": list(cfg.mean), "std": list(cfg.std),
                      "input_size": int(cfg.input_size[-1]), "hf_hub_id": cfg.hf_hub_id,
                      "url": cfg.url or None}
    default = get_pretrained_cfg(name)
    tag = default.tag if default is not None and default.tag in found else None
    return found, tag


def _describe(name: str) -> dict[str, Any]:
    from spp_lab.models.sources.cut import measure

    weights, default = _weights(name)
    size = weights[default]["input_size"] if default else 224
    try:
        facts = measure(_meta_features(name), size)
    except ValueError as err:
        raise ValueError(f"model.arch: timm/{name} {err}") from None
    return facts | {"weights": weights, "default": default}


def _map_sides(name: str, wanted: list[int]) -> dict[int, int | None]:
    from spp_lab.models.sources.cut import sides

    return sides(_meta_features(name), wanted)


def _build(name: str, tag: str | None) -> Any:
    """With ``tag``, the weights from the Hugging Face cache where they are (read there, no
    network), else downloaded into it by timm."""
    from spp_lab.models.catalog import weights_of
    from spp_lab.models.weights import cached_file

    file = cached_file(weights_of(f"timm/{name}", tag)) if tag else None
    return _features(_create(f"{name}.{tag}" if tag else name, pretrained=tag is not None,
                             file=str(file) if file else None))


register_source(Source("timm", prefix="timm/", library="timm", names=_names,
                       describe=_describe, map_sides=_map_sides, build=_build))
