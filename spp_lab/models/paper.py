"""The SPP-net paper's Table 1 architectures, as data (like torchvision's ``vgg.py``).

Each cfg lists layers: ``("conv", filters, kernel, stride, pad)``, ``("lrn",)`` and
``("pool", kernel, stride)`` (Caffe's ceil mode). Every conv is followed by ReLU; the head
replaces pool5. At 224 px the conv5 map is 13×13 for ZF-5 and Convnet*-5 and 18×18 for
Overfeat-5/7, as in the paper. ``width`` scales every channel count and the fc sizes;
``stem="small"`` makes conv1 a 3×3 stride-1 conv so 32-96 px images keep a usable map.
"""

from __future__ import annotations

from torch import nn

from spp_lab.layers.lrn import LocalResponseNorm2d
from spp_lab.models._api import register_model
from spp_lab.models.net import SPPNet

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
STEMS = ("paper", "small")


def make_layers(
    cfg: list[tuple], width: float = 1.0, stem: str = "paper", batchnorm: bool = False
) -> tuple[nn.Sequential, int]:
    """The conv trunk of ``cfg`` and its output channels."""
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; allowed: {', '.join(STEMS)}")
    layers: list[nn.Module] = []
    channels, first = 3, True
    for kind, *args in cfg:
        if kind == "conv":
            filters, kernel, stride, pad = args
            if first and stem == "small":
                kernel, stride, pad = 3, 1, 1
            out = max(1, round(filters * width))
            layers.append(nn.Conv2d(channels, out, kernel, stride, pad, bias=not batchnorm))
            layers += [nn.BatchNorm2d(out)] if batchnorm else []
            layers.append(nn.ReLU(inplace=True))
            channels, first = out, False
        elif kind == "lrn" and not batchnorm:  # batch norm replaces LRN
            layers.append(LocalResponseNorm2d(channels, 5, alpha=1e-4, beta=0.75, k=2.0))
        elif kind == "lrn":
            continue
        elif kind == "pool":
            layers.append(nn.MaxPool2d(args[0], args[1], ceil_mode=True))
        else:
            raise ValueError(f"unknown layer kind {kind!r} in cfg")
    return nn.Sequential(*layers), channels


def _paper_net(arch: str):
    def build(
        num_classes: int,
        width: float = 1.0,
        stem: str = "paper",
        batchnorm: bool = False,
        fc_dim: int = 4096,
        **head_kwargs,
    ) -> SPPNet:
        features, channels = make_layers(cfgs[arch], width, stem, batchnorm)
        dim = max(1, round(fc_dim * width))
        return SPPNet(features, channels, num_classes, fc_dims=(dim, dim), **head_kwargs)

    build.__doc__ = f"The paper's {arch} with a switchable head (see SPPNet)."
    return build


for _arch in cfgs:
    register_model(_arch)(_paper_net(_arch))
