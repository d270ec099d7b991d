"""``data.decode: device`` on the CPU: the CPU path's samples, and real Lightning training."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from spp_lab.config import DataConfig, ModelConfig, TrainConfig, build_config
from spp_lab.data import SPPDataModule
from spp_lab.data.device_decode import Encoded
from spp_lab.errors import UserError
from spp_lab.module import SPPClassifier


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory) -> Path:
    """Three classes of smooth JPEGs in several sizes, one of them grayscale."""
    root = tmp_path_factory.mktemp("jpegs")
    g = torch.Generator().manual_seed(0)
    for k, cls in enumerate(["ant", "bee", "cow"]):
        (root / cls).mkdir()
        for i in range(6):
            h, w = 40 + 4 * k, 36 + 6 * i
            yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            base = torch.stack([(xx * 5 + 40 * k) % 256, (yy * 4) % 256, (xx + yy) * 2 % 256])
            noise = torch.randint(0, 30, (3, h, w), generator=g)
            arr = (base + noise).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
            img = Image.fromarray(arr)
            (img.convert("L") if (k, i) == (1, 2) else img).save(root / cls / f"{i}.jpg",
                                                                  quality=90)
    return root


def modules(root: Path, mode: str, **kw) -> tuple[SPPDataModule, SPPDataModule]:
    cfg = {"name": "imagefolder", "root": str(root), "image_size": 32, "batch_size": 4,
           "val_fraction": 0.34, "eval_mode": mode, **kw}
    return (SPPDataModule(DataConfig(**cfg)),
            SPPDataModule(DataConfig(**cfg, decode="device")))


@pytest.mark.parametrize("mode", ["crop", "full"])
def test_device_decoding_gives_the_cpu_paths_samples(jpeg_folder, mode):
    cpu, dev = modules(jpeg_folder, mode)
    for pick in (lambda m: m.train_dataloader(), lambda m: m.val_dataloader()):
        lc, ld = pick(cpu), pick(dev)
        if hasattr(lc.sampler, "set_epoch"):
            lc.sampler.set_epoch(3)
            ld.sampler.set_epoch(3)
        n = 0
        for (xc, yc), enc in zip(lc, ld, strict=True):
            assert isinstance(enc, Encoded)
            xd, yd = dev.on_before_batch_transfer(enc, 0)
            assert torch.equal(yc, yd) and xd.shape == xc.shape and xd.dtype == torch.uint8
            # Both decoders are libjpeg-turbo on the CPU: the same pixels, so the same crops,
            # flips and resizes (nvJPEG on a GPU rounds differently; make gpu-check).
            assert torch.equal(xd, xc)
            n += len(yc)
        size = len(lc.dataset)
        assert n == (size // 4 * 4 if lc.drop_last else size)  # every sample, once


def test_device_decoding_trains_with_lightning(jpeg_folder):
    _, dm = modules(jpeg_folder, "crop")
    model = SPPClassifier(ModelConfig(arch="zf5", width=0.125, stem="small", batchnorm=True,
                                      fc_dim=64), TrainConfig(), num_classes=dm.num_classes,
                          image_size=32)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model, dm)  # an undecoded batch would reach the model and fail
    assert trainer.current_epoch == 2
    assert 0 <= float(trainer.callback_metrics["val/top1_err"]) <= 100


def test_device_decoding_refuses_what_it_cannot_decode(jpeg_folder, tmp_path):
    with pytest.raises(UserError, match="data.decode: 'device' decodes JPEG files of "
                                        "data.name imagefolder, got data.name 'shapes'"):
        build_config({"data": {"decode": "device"}})
    mixed = tmp_path / "mixed"
    for cls in ("ant", "bee"):
        (mixed / cls).mkdir(parents=True)
        for f in sorted((jpeg_folder / cls).iterdir())[:3]:
            (mixed / cls / f.name).write_bytes(f.read_bytes())
    Image.new("RGB", (40, 40)).save(mixed / "bee" / "odd.png")
    _, dm = modules(mixed, "crop")
    with pytest.raises(UserError) as err:
        dm.setup()
    assert str(err.value) == (
        f"data.decode: 'device' decodes JPEG files only, and 1 of 7 are not "
        f"({mixed / 'bee' / 'odd.png'}, ...); convert them, or use decode: cpu")


def test_what_the_device_decoder_refuses_goes_through_the_cpu_decoder(jpeg_folder, tmp_path):
    """nvJPEG refuses CMYK JPEGs; here the JPEG decoder refuses a PNG's bytes, which takes
    the same way round: the batch one by one, the refused one through decode_image."""
    from torchvision.io import read_file
    from torchvision.transforms.v2 import functional as TF

    from spp_lab.data.device_decode import _decode_all

    jpg = sorted((jpeg_folder / "ant").iterdir())[0]
    png = tmp_path / "x.png"
    Image.open(jpg).save(png)
    out = _decode_all([read_file(str(jpg)), read_file(str(png))], torch.device("cpu"))
    for img, f in zip(out, (jpg, png)):
        assert torch.equal(img, TF.pil_to_tensor(Image.open(f).convert("RGB"))), f.name
