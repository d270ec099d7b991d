"""torchvision's classification networks by their names (``resnet50``, ``convnext_tiny``,
``efficientnet_b0``, ...), with their weight enums (``IMAGENET1K_V2``) loaded by torchvision's
own loader from the torch hub cache (``$TORCH_HOME/hub/checkpoints``).

The network is cut where its final pooling begins, found in its traced graph (torch.fx):
walking back from the output, the classifier (``fc``, ``classifier``, ``head``), flattening,
dropout and pooling are dropped (VGG's pool5 and adaptive pool, DenseNet's functional pool,
ShuffleNet's mean); the node reached is the conv map the head pools. A network with no such
map (a ViT's token sequence) is refused.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

from spp_lab.models.catalog import Source, register_source

_HEADS = ("fc", "classifier", "head", "heads")  # the classifier's attribute names
_SKIP_FUNCS = {"flatten", "mean", "adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool2d",
               "max_pool2d", "dropout"}


def _names() -> list[str]:
    from torchvision import models as tvm

    return tvm.list_models(module=tvm)


def _cut_node(model: Any) -> str:
    """The qualified name of the node whose output is the conv map to pool."""
    import torch
    from torch import fx, nn
    from torch.fx.passes.shape_prop import ShapeProp
    from torchvision.models.feature_extraction import NodePathTracer, _set_default_tracer_kwargs

    skip = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d,
            nn.Dropout, nn.Flatten, nn.Identity)
    model.eval()
    tracer = NodePathTracer(**_set_default_tracer_kwargs(None))  # create_feature_extractor's
    graph = tracer.trace(model)
    ShapeProp(fx.GraphModule(tracer.root, graph)).propagate(
        torch.empty(1, 3, 224, 224, device="meta"))
    for node in reversed([n for n in graph.nodes if n.op.startswith("call_")]):
        qual = tracer.node_to_qualname.get(node, node.name)
        if qual.split(".")[0] in _HEADS:
            continue
        if node.op == "call_module" and isinstance(model.get_submodule(node.target), skip):
            continue
        if node.op != "call_module" and getattr(node.target, "__name__",
                                                str(node.target)) in _SKIP_FUNCS:
            continue
        shape = getattr(node.meta.get("tensor_meta"), "shape", None)
        if shape is None or len(shape) != 4 or shape[2] * shape[3] == 1:
            raise ValueError("has no convolutional map before its classifier (a transformer "
                             "over tokens?); SPP pools a (C, h, w) map")
        return qual
    raise ValueError("has no layer before its classifier")


def _features(model: Any, node: str) -> Any:
    """``model`` cut at ``node``: a module returning the conv map."""
    from torch import nn
    from torchvision.models.feature_extraction import create_feature_extractor

    class ConvMap(nn.Module):
        """A torchvision network up to its final pooling (torch.fx); returns the map."""

        def __init__(self, body: nn.Module, node: str) -> None:
            super().__init__()
            self.body, self.node = body, node

        def forward(self, x):
            return self.body(x)["map"]

    return ConvMap(create_feature_extractor(model, return_nodes={node: "map"}), node)


@lru_cache(maxsize=8)
def _meta_features(name: str) -> Any:
    """The cut network on the meta device (shapes only)."""
    from torchvision import models as tvm

    from spp_lab.models.sources.cut import on_meta

    model = on_meta(lambda: tvm.get_model(name, weights=None))
    return _features(model, _cut_node(model))


def _node(name: str) -> str:
    """Where ``name`` is cut, found once on the meta device."""
    from spp_lab.models.catalog import facts

    return str(facts(name)["cut"])


def _weights(name: str) -> tuple[dict[str, Any], str | None]:
    from torchvision import models as tvm

    try:
        enum = tvm.get_model_weights(name)
    except (ValueError, KeyError):
        return {}, None
    found = {}
    for w in enum:
        t = w.transforms()
        found[w.name] = {"mean": list(t.mean), "std": list(t.std),
                         "input_size": int(t.crop_size[0]), "url": w.url,
                         "file": PurePosixPath(urlparse(w.url).path).name}
    return found, enum.DEFAULT.name


def _describe(name: str) -> dict[str, Any]:
    from spp_lab.models.sources.cut import measure

    weights, default = _weights(name)
    size = weights[default]["input_size"] if default else 224
    try:
        features = _meta_features(name)
        facts = measure(features, size)
    except ValueError as err:
        raise ValueError(f"model.arch: {name} {err}") from None
    return facts | {"weights": weights, "default": default, "cut": features.node}


def _map_sides(name: str, wanted: list[int]) -> dict[int, int | None]:
    from spp_lab.models.sources.cut import sides

    return sides(_meta_features(name), wanted)


def _build(name: str, tag: str | None) -> Any:
    from torchvision import models as tvm

    return _features(tvm.get_model(name, weights=tag), _node(name))  # the hub cache


register_source(Source("torchvision", prefix="", library="torchvision", names=_names,
                       describe=_describe, map_sides=_map_sides, build=_build))
