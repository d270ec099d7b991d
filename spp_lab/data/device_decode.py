"""``data.decode: device``: JPEG files decoded on the training device, after the transfer.

At full scale the CPU loader workers can bound training: decoding a 500×375 JPEG, resizing
and cropping it takes one worker 2-4 ms (``make bench``), while ZF-5 on one H200 consumes
3,700-4,000 images/s. With ``decode: device`` a worker only reads each file's bytes
(:class:`JpegFolder`); the data module's ``on_before_batch_transfer`` hook hands the
:class:`Encoded` batch to :meth:`Encoded.decode`, which decodes it on the device
(``torchvision.io.decode_jpeg``: nvJPEG on a GPU, libjpeg-turbo on the CPU) and applies the
same :class:`~spp_lab.data.datasets.View` as the CPU path: the same crops and flips (seeded
by seed, epoch and index), pixels within decoder rounding. The test suite runs this path on
the CPU against the CPU path.

A JPEG the device decoder refuses (nvJPEG has no CMYK; ImageNet holds a few) is decoded on
the CPU and moved over; files that are not JPEGs are refused before training
(:func:`check_jpegs`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from spp_lab.data.datasets import PILFolder, View, split_key
from spp_lab.errors import UserError

JPEG_EXTS = (".jpg", ".jpeg")


class JpegFolder(PILFolder):
    """A :class:`PILFolder` whose samples are each file's bytes, its label, index and
    epoch: decoded later, a batch at a time, on the device."""

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, int, int, int]:
        from torchvision.io import read_file

        i, epoch = split_key(key)
        return read_file(str(self.files[i])), self.labels[i], i, epoch


@dataclass
class Encoded:
    """A batch of JPEG bytes (on the CPU, as nvJPEG takes them) and what decoding needs."""

    datas: list[Tensor]
    labels: Tensor
    index: list[int]
    epochs: list[int]
    view: View

    def decode(self, device: torch.device) -> tuple[Tensor, Tensor]:
        """(uint8 images (N, 3, H, W), labels), both on ``device``."""
        images = _decode_all(self.datas, device)
        out = [self.view(img, i, e) for img, i, e in zip(images, self.index, self.epochs)]
        return torch.stack(out), self.labels.to(device)


def collate(samples: list[tuple[Tensor, int, int, int]], view: View) -> Encoded:
    datas, labels, index, epochs = zip(*samples)
    return Encoded(list(datas), torch.tensor(labels), list(index), list(epochs), view)


def collate_for(ds: JpegFolder) -> functools.partial:
    """The DataLoader ``collate_fn`` of ``ds`` (picklable, for worker processes)."""
    return functools.partial(collate, view=ds.view)


def _decode_all(datas: list[Tensor], device: torch.device) -> list[Tensor]:
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return decode_jpeg(datas, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:  # one image the device decoder refuses: decode one by one
        return [_decode_one(d, device) for d in datas]


def _decode_one(data: Tensor, device: torch.device) -> Tensor:
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    try:
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:  # e.g. CMYK under nvJPEG: the CPU decoder takes it
        return decode_image(data, mode=ImageReadMode.RGB).to(device)


def check_jpegs(files: list[Path]) -> None:
    """Every file of an image folder read with ``decode: device`` is a JPEG."""
    bad = [f for f in files if f.suffix.lower() not in JPEG_EXTS]
    if bad:
        raise UserError(f"data.decode: 'device' decodes JPEG files only, and {len(bad)} of "
                        f"{len(files)} are not ({bad[0]}, ...); convert them, or use "
                        "decode: cpu")
