"""Networks from model switches: :func:`build_net` (a ``ModelConfig``) and
:func:`get_model` (a name and keywords: the published network by default)."""

from __future__ import annotations

from typing import Any

from spp_lab.errors import format_validation_error
from spp_lab.models._api import arch_spec, head_spec
from spp_lab.models.settings import ModelConfig


def build_net(model: ModelConfig, *, num_classes: int, image_size: int,
              load_weights: bool = True) -> Any:
    """The network of ``model``: its architecture's trunk (with ``model.pretrained`` or
    ``model.weights`` loaded, unless ``load_weights`` is false: a checkpoint or the meta
    device will fill it), the head built for the trunk's conv map at ``image_size`` (the
    training input side), the fc layers, the classifier. Only the switches the architecture
    uses reach its builder (the config has refused non-default values of the others)."""
    from spp_lab.models.net import SPPNet, conv_map_size

    spec = arch_spec(model.arch)
    options = {k: getattr(model, k) for k in sorted(spec.options)}
    if spec.weights_from is not None:
        options["weights"] = model.pretrained if load_weights and model.pretrained else None
    trunk = spec.builder(**options)
    if load_weights and model.weights is not None:
        from spp_lab.models.load import load_backbone

        print(f"== {load_backbone(trunk.features, model.weights)}")
    map_size = conv_map_size(trunk.features, image_size)
    head = head_spec(model.head)
    module = head.build(model, trunk.channels, map_size, image_size)
    return SPPNet(trunk.features, module, head.width(trunk.channels, model), num_classes,
                  fc_dims=trunk.fc_dims, dropout=trunk.dropout, map_size=map_size)


def get_model(name: str, *, num_classes: int = 1000, image_size: int | None = None,
              preset: str = "paper", **switches: Any) -> Any:
    """The network ``name`` as an ``nn.Module``: a registered one (the paper's ``zf5``,
    ``convnet5``, ``overfeat5``, ``overfeat7``; ``resnet18``, ``vgg11_bn``), a torchvision
    one by its name or a timm one as ``timm/<name>``, with the SPP head by default.

    ``preset``: ``paper`` (the published network: the paper's Table 1 at 224 px, torchvision's
    and timm's stock ones) or ``cpu`` (the CPU-sized miniature that ``spp-lab train``
    starts from; :mod:`spp_lab.models.presets`); ``switches`` (``head``, ``levels``,
    ``pretrained``, ...) on top. ``image_size``: the training side a fixed-size head (``pool``)
    is fit to; default the preset's, or the network's own input size.

    >>> net = get_model("zf5", num_classes=1000)
    >>> type(net.head).__name__, net.map_size, net.classifier.in_features
    ('SpatialPyramidPool2d', (13, 13), 4096)
    >>> net = get_model("resnet18", head="spp", levels=(4, 2, 1), num_classes=10)
    >>> net.head.levels, net.classifier.in_features  # 512 channels · (16 + 4 + 1) bins
    ((4, 2, 1), 10752)
    """
    from pydantic import ValidationError

    from spp_lab.models.presets import preset_for
    from spp_lab.models.weights import input_size

    try:
        values, size = preset_for(preset, name)
    except ValueError as err:  # an unknown name or preset
        raise ValueError(f"model.arch: {err}" if "preset" not in str(err) else str(err)
                         ) from None
    try:
        model = ModelConfig(arch=name, **(values | switches))
    except ValidationError as err:
        raise ValueError(format_validation_error(err, ModelConfig, prefix="model")) from None
    if image_size is None:
        image_size = size or input_size(model.arch, model.pretrained)
    return build_net(model, num_classes=num_classes, image_size=image_size)
