"""ResNet-18 and VGG-11 (batch norm) of torchvision, registered with CPU-sized switches and
their final pooling replaced by the chosen head (every other torchvision network comes from
:mod:`spp_lab.models.sources`, stock).

ResNet-18 takes ``stem="small"``, the usual CIFAR stem (a 3×3 stride-1 conv1 and no first
max pool), and has batch norm built in and no fc6/fc7; VGG-11 keeps torchvision's layout
with fc6/fc7 of ``fc_dim`` units. Both take torchvision's published weights
(``model.pretrained``) for their conv layers; ResNet-18's need the paper stem. Switches they
do not use are refused by the config (see ``options`` in the registry).
"""

from __future__ import annotations

from spp_lab.models._api import Trunk, register_model


def _resnet_map(stem: str, size: int) -> int | None:
    a = size if stem == "small" else ((size - 1) // 2 + 1 - 1) // 2 + 1  # conv1 s2, maxpool s2
    for _ in range(3):  # layer2-4 each halve: 3×3 stride-2 pad-1
        a = (a - 1) // 2 + 1
    return a if size >= 1 else None


def _vgg_map(stem: str, size: int) -> int | None:
    a = size
    for _ in range(4):  # four 2×2 max pools (pool5 is the head)
        if a < 2:
            return None
        a //= 2
    return a


@register_model("resnet18", options=("stem",), map_size=_resnet_map, fixed={"batchnorm": True},
                weights_from="resnet18")
def resnet18(*, stem: str, weights: str | None = None) -> Trunk:
    """ResNet-18; the head replaces the global average pool, then one linear classifier."""
    from torch import nn
    from torchvision import models as tvm

    net = tvm.resnet18(weights=weights)
    if stem == "small":
        net.conv1, net.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()
    features = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                             net.layer1, net.layer2, net.layer3, net.layer4)
    return Trunk(features, 512, (), 0.0)


@register_model("vgg11_bn", options=("fc_dim", "dropout"), map_size=_vgg_map,
                fixed={"batchnorm": True}, weights_from="vgg11_bn")
def vgg11_bn(*, fc_dim: int, dropout: float, weights: str | None = None) -> Trunk:
    """VGG-11 with batch norm; the head replaces pool5 and its adaptive pool, fc6/fc7 follow."""
    from torchvision import models as tvm

    features = tvm.vgg11_bn(weights=weights).features[:-1]  # drop pool5: the head replaces it
    return Trunk(features, 512, (fc_dim, fc_dim), dropout)
