"""The data switches as a pydantic model (no torch): ``DataConfig``, the run config's
``data`` section. ``data.name`` is checked against the dataset registry when a config is
validated (``spp_lab/data/sets/`` and plug-ins)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from spp_lab.data import sets  # noqa: F401  (register the built-in datasets)
from spp_lab.data.registry import dataset_spec, list_datasets
from spp_lab.schema import Bool, NonNegInt, Num, PosInt, StrictModel, registered


class DataConfig(StrictModel):
    name: registered(list_datasets) = Field(
        "shapes", description="dataset; shapes is embedded and offline")
    root: str | None = Field(None, description="dataset folder (imagefolder, cifar10, caltech101)")
    download: Bool = Field(False, description="let torchvision download cifar10/caltech101")
    image_size: PosInt = Field(64, description="training crop side, px")
    resize: PosInt | None = Field(
        None, description="shorter side before cropping, px (default image_size·8/7, as 256/224)")
    num_train: PosInt = Field(2000, description="shapes: training images")
    num_val: PosInt = Field(500, description="shapes: validation images (every epoch)")
    num_test: NonNegInt = Field(0, description=(
        "shapes: held-out test images scored once after training (test_* metrics); 0: none"))
    val_fraction: Num = Field(0.1, gt=0, lt=1, description=(
        "imagefolder without val/, caltech101: a seeded random fraction of the whole folder "
        "held out for validation"))
    batch_size: PosInt | Literal["auto"] = Field("auto", description=(
        "images per batch; auto: 64, or for a training split of fewer than 10 batches of 64 "
        "(a small image folder) the largest of 32, 16, 8 that gives 10; resolved before "
        "the run id"))
    num_workers: NonNegInt = Field(0, description="DataLoader worker processes")
    flip: Bool = Field(True, description="random horizontal flip in training (off where "
                                         "orientation matters: digits, text)")
    eval_mode: Literal["crop", "full"] = Field(
        "crop", description="validation view: center crop, or the full image at its own size")
    seed: NonNegInt = Field(0, description="which images: the data seed, separate from "
                                           "train.seed")
    resample: Bool = Field(False, description="shapes: new training scenes every epoch "
                                              "(num_train per epoch, none seen twice)")
    scale: list[Num] = Field([0.11, 0.24], min_length=2, max_length=2, description=(
        "shapes: radius range of the objects, fraction of the shorter image side"))
    gap: list[Num] = Field([2.2, 2.8], min_length=2, max_length=2, description=(
        "shapes: distance between the pair's centres, in radii (range)"))
    test_views: list[Literal["full"] | PosInt] = Field([], description=(
        "extra views of the test split: 'full' (each image whole) and/or sizes in px "
        "(centre crops at another scale); test_<view>_* metrics"))
    test_fraction: Num = Field(0.0, ge=0, lt=1, description=(
        "imagefolder/caltech101 without a test/ folder: fraction of each class held out as "
        "the test split (stratified, of the whole folder, drawn before validation); 0: none"))
    decode: Literal["cpu", "device"] = Field("cpu", description=(
        "imagefolder of JPEGs: decode in the loader workers (cpu), or on the training "
        "device after the transfer (device: nvJPEG on a GPU), when CPU workers cannot "
        "feed the model"))
    skip_bad: Bool = Field(False, description=(
        "image folders: skip a file that does not decode (counted in runs.csv and W&B) "
        "instead of stopping the job with its name"))

    @model_validator(mode="after")
    def _ranges(self) -> DataConfig:
        lo, hi = self.scale
        if not 0 < lo <= hi <= 0.5:
            raise ValueError(f"data.scale: expected 0 < low ≤ high ≤ 0.5, got {self.scale}")
        if not 2.0 <= self.gap[0] <= self.gap[1] <= 6.0:
            raise ValueError(f"data.gap: expected 2 ≤ low ≤ high ≤ 6 radii (the pair apart, "
                             f"not overlapping), got {self.gap}")
        if self.decode == "device" and not dataset_spec(self.name).device_decode:
            ok = [n for n in list_datasets() if dataset_spec(n).device_decode]
            raise ValueError(f"data.decode: 'device' decodes JPEG files of data.name "
                             f"{' or '.join(ok)}, got data.name {self.name!r}; use decode: cpu")
        return self
