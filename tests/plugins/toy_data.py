"""A toy dataset: horizontal or vertical stripes in noise, 2 classes."""

from spp_lab.data.registry import register_dataset
from spp_lab.data.splits import Splits


@register_dataset("stripes", classes=lambda data: 2)
def load_stripes(data, train_seed):
    """Horizontal or vertical stripes in noise, 2 classes."""
    import torch

    def make(n, seed):
        g = torch.Generator().manual_seed(seed)
        s = data.image_size
        y = torch.arange(n) % 2
        x = torch.randn(n, 3, s, s, generator=g) * 0.5
        bars = (torch.arange(s) // 4 % 2).float()
        x[y == 0] += bars[None, None, :, None]
        x[y == 1] += bars[None, None, None, :]
        return x, y

    class Train(torch.utils.data.Dataset):  # indexed by (index, epoch)
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.y)

        def __getitem__(self, key):
            i, _epoch = key
            return self.x[i], int(self.y[i])

    val = torch.utils.data.TensorDataset(*make(32, 10_000))
    return Splits(Train(*make(64, train_seed)), val, None, ["horizontal", "vertical"])
