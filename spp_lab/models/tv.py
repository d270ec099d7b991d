"""torchvision backbones with their final pooling replaced by the chosen head.

Weights are random (nothing is downloaded). ``stem="small"`` is the usual CIFAR stem: a 3×3
stride-1 conv1 and no first max pool.
"""

from __future__ import annotations

from torch import nn
from torchvision import models as tvm

from spp_lab.models._api import register_model
from spp_lab.models.net import SPPNet


def _check(width: float, stem: str, name: str) -> None:
    if width != 1.0:
        raise ValueError(f"model {name!r} does not scale by width (got width={width}); use 1.0")
    if stem not in ("paper", "small"):
        raise ValueError(f"unknown stem {stem!r}; allowed: paper, small")


@register_model("resnet18")
def resnet18(
    num_classes: int, width: float = 1.0, stem: str = "paper", batchnorm: bool = True,
    fc_dim: int = 4096, **head_kwargs,
) -> SPPNet:
    """ResNet-18; the head replaces the global average pool, then one linear classifier."""
    _check(width, stem, "resnet18")
    net = tvm.resnet18(weights=None)
    if stem == "small":
        net.conv1, net.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()
    features = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                             net.layer1, net.layer2, net.layer3, net.layer4)
    return SPPNet(features, 512, num_classes, fc_dims=(), **head_kwargs)


@register_model("vgg11_bn")
def vgg11_bn(
    num_classes: int, width: float = 1.0, stem: str = "paper", batchnorm: bool = True,
    fc_dim: int = 4096, **head_kwargs,
) -> SPPNet:
    """VGG-11 with batch norm; the head replaces pool5 and its adaptive pool, fc6/fc7 follow."""
    _check(width, stem, "vgg11_bn")
    features = tvm.vgg11_bn(weights=None).features[:-1]  # drop pool5: the head replaces it
    return SPPNet(features, 512, num_classes, fc_dims=(fc_dim, fc_dim), **head_kwargs)
