"""Networks from model switches: :func:`build_net` (a ``ModelConfig``) and
:func:`get_model` (a name and keywords, the run config's defaults for the rest)."""

from __future__ import annotations

from typing import Any

from spp_lab.data.settings import DataConfig
from spp_lab.errors import format_validation_error
from spp_lab.models._api import arch_spec, head_spec
from spp_lab.models.settings import ModelConfig
from spp_lab.schema import default_of


def build_net(model: ModelConfig, *, num_classes: int, image_size: int) -> Any:
    """The network of ``model``: its architecture's trunk, the head built for the trunk's
    conv map at ``image_size`` (the training input side), the fc layers, the classifier.
    Only the switches the architecture uses reach its builder (the config has refused
    non-default values of the others)."""
    from spp_lab.models.net import SPPNet, conv_map_size

    spec = arch_spec(model.arch)
    trunk = spec.builder(**{k: getattr(model, k) for k in sorted(spec.options)})
    map_size = conv_map_size(trunk.features, image_size)
    head = head_spec(model.head)
    module = head.build(model, trunk.channels, map_size, image_size)
    return SPPNet(trunk.features, module, head.width(trunk.channels, model), num_classes,
                  fc_dims=trunk.fc_dims, dropout=trunk.dropout, map_size=map_size)


def get_model(name: str, *, num_classes: int = 1000, image_size: int | None = None,
              **switches: Any) -> Any:
    """The registered architecture ``name`` as an ``nn.Module``, with the ``model.*``
    ``switches`` given and the run config's defaults for the others; ``image_size`` (the
    training side; default ``data.image_size``'s) fits a fixed-size head's window.

    >>> net = get_model("zf5", num_classes=1000)
    >>> type(net.head).__name__, net.classifier.out_features
    ('SpatialPyramidPool2d', 1000)
    >>> net = get_model("resnet18", head="spp", levels=(4, 2, 1), num_classes=10)
    >>> net.head.levels, net.classifier.in_features  # 512 channels · (16 + 4 + 1) bins
    ((4, 2, 1), 10752)
    """
    from pydantic import ValidationError

    try:
        model = ModelConfig(arch=name, **switches)
    except ValidationError as err:
        raise ValueError(format_validation_error(err, ModelConfig, prefix="model")) from None
    size = image_size if image_size is not None else default_of(DataConfig, "image_size")
    return build_net(model, num_classes=num_classes, image_size=size)
