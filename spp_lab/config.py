"""One typed source of defaults for a training run (pydantic; no torch import).

Every field carries its meaning and unit; unknown keys are errors, types are strict (no
``true`` for a number, no number for a switch) and numbers finite. The choices of
``model.arch``, ``model.head``, ``model.pool``, ``model.bins`` and ``model.stem`` come from
the model registry and the layers' own tuples, so registering a backbone or a pool type
needs no edit here. ``spp-lab train --help`` prints this schema, and an experiment file's
``base`` uses it unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)

from spp_lab.errors import UserError, format_validation_error
from spp_lab.layers.choices import BIN_MODES, HEADS, POOL_TYPES, STEMS
from spp_lab.models import arch_spec, list_models
from spp_lab.schedule import SIZE_SCHEDULES, SizeSchedule

ARCHS = tuple(list_models())


def _no_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("expected a number, not a boolean")
    return v


Int = Annotated[int, Strict()]  # 3, never 3.0, "3" or true
PosInt = Annotated[int, Strict(), Field(gt=0)]
Num = Annotated[float, BeforeValidator(_no_bool)]  # finite (RunConfig forbids inf and nan)
Bool = Annotated[bool, Strict()]


def choice(names: tuple[str, ...]) -> Any:
    """A Literal type of ``names`` (the registries' and layers' tuples)."""
    return Literal[names]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class DataConfig(_Strict):
    name: Literal["shapes", "imagefolder", "cifar10", "caltech101"] = Field(
        "shapes", description="dataset; shapes is embedded and offline")
    root: str | None = Field(None, description="dataset folder (imagefolder, cifar10, caltech101)")
    download: Bool = Field(False, description="let torchvision download cifar10/caltech101")
    image_size: PosInt = Field(64, description="training crop side, px")
    resize: PosInt | None = Field(
        None, description="shorter side before cropping, px (default image_size·8/7, as 256/224)")
    num_train: PosInt = Field(4000, description="shapes: training images")
    num_val: PosInt = Field(1000, description="shapes: validation images (every epoch)")
    num_test: Annotated[int, Strict(), Field(ge=0)] = Field(0, description=(
        "shapes: held-out test images scored once after training (test_* metrics); 0: none"))
    val_fraction: Num = Field(0.1, gt=0, lt=1,
                              description="imagefolder without val/: fraction held out")
    batch_size: PosInt = Field(64, description="images per batch")
    num_workers: Annotated[int, Strict(), Field(ge=0)] = Field(
        0, description="DataLoader worker processes")
    flip: Bool = Field(True, description="random horizontal flip in training")
    eval_mode: Literal["crop", "full"] = Field(
        "crop", description="validation view: center crop, or the full image at its own size")
    seed: Annotated[int, Strict(), Field(ge=0)] = Field(
        0, description="which images: the data seed, separate from train.seed")
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
        "imagefolder/caltech101 without a test/ folder: fraction held out per class as the "
        "test split; 0: no test split"))
    decode: Literal["cpu", "device"] = Field("cpu", description=(
        "imagefolder of JPEGs: decode in the loader workers (cpu), or on the training "
        "device after the transfer (device: nvJPEG on a GPU), when CPU workers cannot "
        "feed the model"))

    @model_validator(mode="after")
    def _scale_range(self) -> DataConfig:
        lo, hi = self.scale
        if not 0 < lo <= hi <= 0.5:
            raise ValueError(f"data.scale: expected 0 < low ≤ high ≤ 0.5, got {self.scale}")
        if not 2.0 <= self.gap[0] <= self.gap[1] <= 6.0:
            raise ValueError(f"data.gap: expected 2 ≤ low ≤ high ≤ 6 radii (the pair apart, "
                             f"not overlapping), got {self.gap}")
        if self.decode == "device" and self.name != "imagefolder":
            raise ValueError(f"data.decode: 'device' decodes JPEG files of data.name "
                             f"imagefolder, got data.name {self.name!r}; use decode: cpu")
        return self


class ModelConfig(_Strict):
    arch: choice(ARCHS) = Field("zf5", description="backbone (the model registry)")
    width: Num = Field(1.0, gt=0, le=4, description="multiplier on channels and fc sizes")
    stem: choice(STEMS) = Field(
        "paper", description="conv1 as in the paper, or 3×3 stride 1 for 32-96 px images")
    batchnorm: Bool = Field(False, description="batch norm after each conv, replacing LRN")
    head: choice(HEADS) = Field(
        "spp", description="spp: pyramid; pool: fixed pool5 (no-SPP baseline); global: 1×1")
    levels: list[PosInt] = Field(
        [6, 3, 2, 1], min_length=1, description="pyramid levels n (n×n bins each), spp head")
    pool: choice(POOL_TYPES) = Field("max", description="pooling in each bin")
    bins: choice(BIN_MODES) = Field(
        "adaptive", description="bin formula: Appendix-A adaptive, or §2.3 window/stride")
    pool5_bins: PosInt = Field(6, description="pool head: k×k bins at the training size")
    fc_dim: PosInt = Field(4096, description="fc6/fc7 units before the width multiplier")
    dropout: Num = Field(0.5, ge=0, lt=1, description="dropout after fc6 and fc7")

    @model_validator(mode="after")
    def _switches_the_arch_uses(self) -> ModelConfig:
        spec = arch_spec(self.arch)
        for key in ("width", "stem", "batchnorm", "fc_dim", "dropout"):
            value, default = getattr(self, key), type(self).model_fields[key].default
            if key in spec.options or value == default or spec.fixed.get(key) == value:
                continue
            raise ValueError(f"model.{key}: {self.arch} does not use {key} (got {value!r}); "
                             f"leave it at {default!r}. {self.arch} uses: "
                             f"{', '.join(sorted(spec.options)) or 'none of them'}")
        return self


class TrainConfig(_Strict):
    epochs: PosInt = Field(10, description="training epochs")
    optimizer: Literal["sgd", "adamw"] = Field("sgd", description="optimizer")
    lr: Num = Field(0.01, gt=0, description="peak learning rate")
    momentum: Num = Field(0.9, ge=0, lt=1, description="SGD momentum")
    weight_decay: Num = Field(5e-4, ge=0, description="L2 weight decay")
    lr_schedule: Literal["none", "cosine", "step", "plateau"] = Field(
        "cosine", description="cosine to 0; step: ÷10 at 50%, 75%; plateau: ÷10 twice at most")
    plateau_patience: PosInt = Field(3, description="plateau: epochs without gain")
    label_smoothing: Num = Field(0.0, ge=0, lt=1, description="label smoothing of the loss")
    ema: Num | None = Field(None, ge=0.5, lt=1, description=(
        "decay of an exponential moving average of the weights, per step, evaluated instead "
        "of the raw weights (e.g. 0.998); null: off"))
    sizes: list[PosInt] = Field(
        [], description="multi-size training sizes, px, test size first (paper: [224, 180]); "
                        "[] = single-size")
    size_schedule: choice(SIZE_SCHEDULES) = Field(
        "epoch", description="switch size every epoch, every batch, or random in range per epoch")
    seed: Annotated[int, Strict(), Field(ge=0)] = Field(
        0, description="seed of weights, batches and augmentation")
    deterministic: Bool = Field(True, description="deterministic algorithms (reproducible runs)")
    channels_last: Bool = Field(
        True, description="NHWC activations and weights (CPU convs 1.3-1.6x faster)")
    precision: Literal["auto", "32-true", "16-mixed", "bf16-mixed"] = Field(
        "auto", description="auto: bf16-mixed on a GPU with bf16 (Ampere or newer) that the "
                            "runner sees, else 32-true; resolved before the run id")
    accelerator: Literal["auto", "cpu", "gpu"] = Field("auto", description="device kind")
    threads: PosInt | None = Field(None, description="torch CPU threads (default: all)")
    checkpoint: Bool = Field(True, description="save checkpoints/last.ckpt each epoch (resume)")
    limit_train_batches: PosInt | None = Field(None, description="cap batches per epoch")
    limit_val_batches: PosInt | None = Field(None, description="cap validation batches")


class WandbConfig(_Strict):
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="W&B mode; null: WANDB_MODE, else online (offline without a key)")
    project: str = Field("spp-lab", description="W&B project")
    entity: str | None = Field(None, description="W&B entity (team or user)")
    tags: list[str] = Field([], description="extra tags on every run")


class LoggingConfig(_Strict):
    wandb: WandbConfig = Field(default_factory=WandbConfig)


NAME_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"  # a folder name, not . or ..


class RunConfig(_Strict):
    experiment: str = Field("default", pattern=NAME_PATTERN,
                            description="results/<experiment>/ groups runs")
    output_dir: str = Field("results", min_length=1, description="root folder of all results")
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
    def schedule(self) -> SizeSchedule:
        """The multi-size schedule: ``train.sizes`` resolved (here, once) and its kind."""
        return SizeSchedule.of(self.train.sizes, self.data.image_size,
                               self.train.size_schedule, self.train.seed, self.train.epochs)

    @property
    def train_sizes(self) -> list[int]:
        return list(self.schedule.sizes)


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
    from spp_lab.errors import load_yaml_text

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        hint = (f"; did you mean {text}=VALUE?" if "." in text and " " not in text else "")
        raise UserError(f"override {text!r}: expected dotted.key=value, e.g. "
                        f"model.head=pool{hint}")
    try:
        return key.strip(), load_yaml_text(raw, f"{key.strip()}=")
    except UserError:
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
