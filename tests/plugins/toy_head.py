"""A toy fixed-size head: max over each quarter of the conv map (width 4·C)."""

from spp_lab.models._api import register_head


def _even(model, map_side, input_side):
    if map_side % 2 == 0:
        return None
    return (f"model.head: head='halves' needs an even conv map; {input_side}-px inputs "
            f"give {map_side}")


@register_head("halves", uses=("pool",), fixed_size=True, pools=("max",), check=_even,
               width=lambda channels, model: channels * 4)
def build_halves(model, channels, map_size, train_size):
    """Max over each quarter of the conv map (fixed-size: the window is set at training)."""
    from torch import nn

    h, w = map_size
    return nn.Sequential(nn.MaxPool2d((h // 2, w // 2)), nn.Flatten())
