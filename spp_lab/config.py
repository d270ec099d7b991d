"""One typed source of defaults for a training run (pydantic; no torch import).

Every field carries its meaning and unit; unknown keys are errors. ``spp-lab train --help``
prints this schema, and an experiment file's ``base`` uses it unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from spp_lab.errors import UserError, format_validation_error

ARCHS = ("zf5", "convnet5", "overfeat5", "overfeat7", "resnet18", "vgg11_bn")
Arch = Literal["zf5", "convnet5", "overfeat5", "overfeat7", "resnet18", "vgg11_bn"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    name: Literal["shapes", "imagefolder", "cifar10", "caltech101"] = Field(
        "shapes", description="dataset; shapes is embedded and offline")
    root: str | None = Field(None, description="dataset folder (imagefolder, cifar10, caltech101)")
    download: bool = Field(False, description="let torchvision download cifar10/caltech101")
    image_size: PositiveInt = Field(64, description="training crop side, px")
    resize: PositiveInt | None = Field(
        None, description="shorter side before cropping, px (default image_size·8/7, as 256/224)")
    num_train: PositiveInt = Field(4000, description="shapes: training images")
    num_val: PositiveInt = Field(1000, description="shapes: validation images (every epoch)")
    num_test: int = Field(0, ge=0, description=(
        "shapes: held-out test images scored once after training (test_* metrics); 0: none"))
    val_fraction: float = Field(0.1, gt=0, lt=1,
                                description="imagefolder without val/: fraction held out")
    batch_size: PositiveInt = Field(64, description="images per batch")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    flip: bool = Field(True, description="random horizontal flip in training")
    eval_mode: Literal["crop", "full"] = Field(
        "crop", description="validation view: center crop, or the full image at its own size")
    seed: int = Field(0, description="which images: the data seed, separate from train.seed")


class ModelConfig(_Strict):
    arch: Arch = Field("zf5", description="backbone: " + ", ".join(ARCHS))
    width: float = Field(1.0, gt=0, le=4, description="multiplier on channels and fc sizes")
    stem: Literal["paper", "small"] = Field(
        "paper", description="conv1 as in the paper, or 3×3 stride 1 for 32-96 px images")
    batchnorm: bool = Field(False, description="batch norm after each conv, replacing LRN")
    head: Literal["spp", "pool", "global"] = Field(
        "spp", description="spp: pyramid; pool: fixed pool5 (no-SPP baseline); global: 1×1")
    levels: list[PositiveInt] = Field(
        [6, 3, 2, 1], min_length=1, description="pyramid levels n (n×n bins each), spp head")
    pool: Literal["max", "avg", "avgmax", "catavgmax"] = Field(
        "max", description="pooling in each bin")
    bins: Literal["adaptive", "paper"] = Field(
        "adaptive", description="bin formula: Appendix-A adaptive, or §2.3 window/stride")
    pool5_bins: PositiveInt = Field(6, description="pool head: k×k bins at the training size")
    fc_dim: PositiveInt = Field(4096, description="fc6/fc7 units before the width multiplier")
    dropout: float = Field(0.5, ge=0, lt=1, description="dropout after fc6 and fc7")


class TrainConfig(_Strict):
    epochs: PositiveInt = Field(10, description="training epochs")
    optimizer: Literal["sgd", "adamw"] = Field("sgd", description="optimizer")
    lr: float = Field(0.01, gt=0, description="peak learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    weight_decay: float = Field(5e-4, ge=0, description="L2 weight decay")
    lr_schedule: Literal["none", "cosine", "step", "plateau"] = Field(
        "cosine", description="cosine to 0; step: ÷10 at 50%, 75%; plateau: ÷10 twice at most")
    plateau_patience: PositiveInt = Field(3, description="plateau: epochs without gain")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the loss")
    sizes: list[PositiveInt] = Field(
        [], description="multi-size training sizes, px (paper: [224, 180]); [] = single-size")
    size_schedule: Literal["epoch", "batch", "random"] = Field(
        "epoch", description="switch size every epoch, every batch, or random in range per epoch")
    seed: int = Field(0, description="seed of weights, batches and augmentation")
    deterministic: bool = Field(True, description="deterministic algorithms (reproducible runs)")
    channels_last: bool = Field(
        True, description="NHWC activations and weights (CPU convs 1.3-1.6x faster)")
    precision: Literal["32-true", "16-mixed", "bf16-mixed"] = Field(
        "32-true", description="Lightning precision")
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="device kind")
    threads: PositiveInt | None = Field(None, description="torch CPU threads (default: all)")
    checkpoint: bool = Field(True, description="save checkpoints/last.ckpt each epoch (resume)")
    limit_train_batches: PositiveInt | None = Field(None, description="cap batches per epoch")
    limit_val_batches: PositiveInt | None = Field(None, description="cap validation batches")


class WandbConfig(_Strict):
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="W&B mode; null: WANDB_MODE, else online (offline without a key)")
    project: str = Field("spp-lab", description="W&B project")
    entity: str | None = Field(None, description="W&B entity (team or user)")
    tags: list[str] = Field([], description="extra tags on every run")


class LoggingConfig(_Strict):
    wandb: WandbConfig = Field(default_factory=WandbConfig)


class RunConfig(_Strict):
    experiment: str = Field("default", pattern=r"^[A-Za-z0-9_.-]+$",
                            description="results/<experiment>/ groups runs")
    output_dir: str = Field("results", description="root folder of all results")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="after")
    def _fixed_size_head(self) -> RunConfig:
        if self.model.head == "pool" and len(set(self.train.sizes) - {self.data.image_size}):
            raise ValueError(
                f"model.head='pool' is fixed-size and cannot train at train.sizes="
                f"{self.train.sizes}; use model.head='spp' for multi-size training")
        return self

    @property
    def train_sizes(self) -> list[int]:
        return list(self.train.sizes) or [self.data.image_size]


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(d, "model.levels", [4, 2, 1])`` sets ``d["model"]["levels"]``."""
    *parents, leaf = key.split(".")
    node = tree
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"{key}: {part!r} is a value, not a section")
        node = child
    node[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"model.head=pool"`` → ``("model.head", "pool")``; values are parsed as YAML."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UserError(f"override {text!r}: expected dotted.key=value, e.g. model.head=pool")
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:
        return key.strip(), raw


def build_config(data: dict[str, Any] | None, source: str = "config") -> RunConfig:
    """Validate a raw dict into a :class:`RunConfig`, or raise a :class:`UserError`."""
    if data is not None and not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping of sections, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data or {})
    except ValidationError as err:
        raise UserError(format_validation_error(err, RunConfig, source=source)) from None


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"head": "spp"}}`` → ``{"model.head": "spp"}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
