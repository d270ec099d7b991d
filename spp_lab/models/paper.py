"""The SPP-net paper's Table 1 architectures, as data (like torchvision's ``vgg.py``).

Each cfg lists layers: ``("conv", filters, kernel, stride, pad)``, ``("lrn",)`` and
``("pool", kernel, stride)`` (Caffe's ceil mode). Every conv is followed by ReLU; the head
replaces pool5. At 224 px the conv5 map is 13×13 for ZF-5 and Convnet*-5 and 18×18 for
Overfeat-5/7, as in the paper. ``width`` scales every channel count and the fc sizes;
``stem="small"`` makes conv1 a 3×3 stride-1 conv so 32-96 px images keep a usable map.
A new backbone of this kind is one more entry in ``cfgs``. (Module import needs no torch.)
"""

from __future__ import annotations

from typing import Any

from spp_lab.models._api import Trunk, register_model

_LRN = ("lrn",)
cfgs: dict[str, list[tuple]] = {
    "zf5": [("conv", 96, 7, 2, 1), _LRN, ("pool", 3, 2), ("conv", 256, 5, 2, 1), _LRN,
            ("pool", 3, 2), ("conv", 384, 3, 1, 1), ("conv", 384, 3, 1, 1), ("conv", 256, 3, 1, 1)],
    "convnet5": [("conv", 96, 11, 4, 0), _LRN, ("conv", 256, 5, 1, 2), _LRN, ("pool", 3, 2),
                 ("conv", 384, 3, 1, 1), ("pool", 3, 2), ("conv", 384, 3, 1, 1),
                 ("conv", 256, 3, 1, 1)],
    "overfeat5": [("conv", 96, 7, 2, 0), ("pool", 3, 3), ("conv", 256, 5, 1, 1), ("pool", 2, 2)]
    + [("conv", 512, 3, 1, 1)] * 3,
    "overfeat7": [("conv", 96, 7, 2, 0), ("pool", 3, 3), ("conv", 256, 5, 1, 1), ("pool", 2, 2)]
    + [("conv", 512, 3, 1, 1)] * 5,
}
SMALL_STEM = (3, 1, 1)  # conv1's kernel, stride, pad with stem="small"


def _convs(cfg: list[tuple], stem: str) -> list[tuple]:
    """The cfg with conv1 replaced by the small stem where asked."""
    out, first = [], True
    for layer in cfg:
        if layer[0] == "conv" and first:
            first = False
            if stem == "small":
                layer = ("conv", layer[1], *SMALL_STEM)
        out.append(layer)
    return out


def cfg_map_size(cfg: list[tuple], stem: str, size: int) -> int | None:
    """The trunk's output side for a ``size``-px input (None where a layer cannot take it),
    by torch's own rules: conv ``⌊(a + 2p − k)/s⌋ + 1`` (needs ``a + 2p ≥ k``); ceil-mode
    pool ``⌊(a − k + s − 1)/s⌋ + 1``, less one where the last window would start past the
    input (needs a result ≥ 1)."""
    a = size
    for kind, *args in _convs(cfg, stem):
        if kind == "conv":
            _, k, s, p = args
            if a + 2 * p < k:
                return None
            a = (a + 2 * p - k) // s + 1
        elif kind == "pool":
            k, s = args
            out = (a - k + s - 1) // s + 1
            a = out - 1 if (out - 1) * s >= a else out
            if a < 1:
                return None
    return a


def make_layers(cfg: list[tuple], *, width: float, stem: str, batchnorm: bool
                ) -> tuple[Any, int]:
    """The conv trunk of ``cfg`` (an ``nn.Sequential``) and its output channels."""
    from torch import nn

    from spp_lab.layers.lrn import LocalResponseNorm2d

    layers: list[nn.Module] = []
    channels = 3
    for kind, *args in _convs(cfg, stem):
        if kind == "conv":
            filters, kernel, stride, pad = args
            out = max(1, round(filters * width))
            layers.append(nn.Conv2d(channels, out, kernel, stride, pad, bias=not batchnorm))
            layers += [nn.BatchNorm2d(out)] if batchnorm else []
            layers.append(nn.ReLU(inplace=True))
            channels = out
        elif kind == "lrn" and not batchnorm:  # batch norm replaces LRN
            layers.append(LocalResponseNorm2d(channels, 5, alpha=1e-4, beta=0.75, k=2.0))
        elif kind == "pool":
            layers.append(nn.MaxPool2d(args[0], args[1], ceil_mode=True))
        elif kind != "lrn":
            raise ValueError(f"unknown layer kind {kind!r} in cfg")
    return nn.Sequential(*layers), channels


def _paper_net(arch: str):
    def build(*, width: float, stem: str, batchnorm: bool, fc_dim: int,
              dropout: float) -> Trunk:
        features, channels = make_layers(cfgs[arch], width=width, stem=stem,
                                         batchnorm=batchnorm)
        dim = max(1, round(fc_dim * width))
        return Trunk(features, channels, (dim, dim), dropout)

    build.__doc__ = f"The paper's {arch} trunk, fc6 and fc7 (the head goes between)."
    return build


for _arch in cfgs:
    register_model(_arch, options=("width", "stem", "batchnorm", "fc_dim", "dropout"),
                   map_size=lambda stem, size, c=cfgs[_arch]: cfg_map_size(c, stem, size)
                   )(_paper_net(_arch))
