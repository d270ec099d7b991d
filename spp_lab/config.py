"""One typed source of defaults for a training run (pydantic; no torch import).

Every field carries its meaning and unit; unknown keys are errors, types are strict (no
``true`` for a number, no number for a switch) and numbers finite. The run config composes
the sections: ``data`` (:class:`~spp_lab.data.settings.DataConfig`, beside the dataset
registry), ``model`` (:class:`~spp_lab.models.settings.ModelConfig`, beside the model and
head registries), ``train`` and ``logging`` (here). Names of architectures, heads and
datasets are checked against the registries when a config is validated, so a plug-in needs
no edit here. ``spp-lab train --help`` prints this schema, and an experiment file's
``base`` uses it unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from spp_lab.data.settings import DataConfig
from spp_lab.errors import UserError, format_validation_error
from spp_lab.models._api import head_spec
from spp_lab.models.settings import ModelConfig
from spp_lab.schedule import SIZE_SCHEDULES, SizeSchedule
from spp_lab.schema import (
    Bool,
    FolderName,
    NonNegInt,
    Num,
    PosInt,
    StrictModel,
    choice,
    default_of,
)

__all__ = ["DataConfig", "LoggingConfig", "ModelConfig", "RunConfig", "TrainConfig",
           "WandbConfig", "build_config", "flatten", "parse_override", "set_dotted"]


class TrainConfig(StrictModel):
    epochs: PosInt = Field(10, description="training epochs")
    optimizer: Literal["sgd", "adamw"] = Field("adamw", description="optimizer (the paper: sgd)")
    lr: Num = Field(0.001, gt=0, description="peak learning rate (the paper: 0.01 with sgd)")
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
    seed: NonNegInt = Field(
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
    backbone_lr: Num = Field(1.0, gt=0, le=10, description=(
        "learning-rate multiplier of the backbone (the conv trunk) against train.lr: 0.1 "
        "fine-tunes pretrained weights gently"))
    freeze_backbone: NonNegInt | Literal["all"] = Field(0, description=(
        "epochs at the start with the backbone frozen (no gradient, only the head, fc and "
        "classifier train); all: frozen throughout (a linear probe)"))
    bn_recalibrate: NonNegInt = Field(0, description=(
        "before each evaluation, recompute batch norm's statistics from this many training "
        "images at the test size (train mode, no gradient: PreciseBN); 0: off. Weights are "
        "untouched; the running averages of a multi-size schedule's last epochs are replaced"))
    test_size_epochs: PosInt = Field(1, description=(
        "multi-size training, epoch and random schedules: the last N epochs train at the "
        "test size (train.sizes[0])"))
    backbone_bn: Literal["train", "frozen"] = Field("train", description=(
        "the backbone's batch norm: train (batch statistics, running averages updated) or "
        "frozen (its running statistics and affine weights kept, as pretrained)"))


class WandbConfig(StrictModel):
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="W&B mode; null: WANDB_MODE, else online (offline without a key)")
    project: str = Field("spp-lab", description="W&B project")
    entity: str | None = Field(None, description="W&B entity (team or user)")
    tags: list[str] = Field([], description="extra tags on every run")


class LoggingConfig(StrictModel):
    wandb: WandbConfig = Field(default_factory=WandbConfig)




class RunConfig(StrictModel):
    experiment: FolderName = Field("default", description="results/<experiment>/ groups "
                                                          "runs")
    output_dir: str = Field("results", min_length=1, description="root folder of all results")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @model_validator(mode="before")
    @classmethod
    def _input_size_of_the_arch(cls, data: Any) -> Any:
        """``data.image_size`` not given: the architecture's input size (64 for the
        CPU-sized registered nets; a torchvision or timm network's weights' size)."""
        if not isinstance(data, dict) or not isinstance(data.get("model", {}), dict):
            return data
        section = data.get("data", {})
        if not isinstance(section, dict) or "image_size" in section:
            return data
        from spp_lab.models.weights import input_size

        model = data.get("model", {})
        try:
            size = input_size(model.get("arch", default_of(ModelConfig, "arch")),
                              model.get("pretrained", False))
        except (ValueError, TypeError):
            return data  # an unknown name or tag: the model section's error says it
        if size == default_of(DataConfig, "image_size"):
            return data
        return {**data, "data": {**section, "image_size": size}}

    @model_validator(mode="after")
    def _fixed_size_head(self) -> RunConfig:
        if head_spec(self.model.head).fixed_size and len(
                set(self.train.sizes) - {self.data.image_size}):
            raise ValueError(
                f"model.head={self.model.head!r} is fixed-size and cannot train at "
                f"train.sizes={self.train.sizes}; use model.head='spp' for multi-size "
                "training")
        return self

    @property
    def schedule(self) -> SizeSchedule:
        """The multi-size schedule: ``train.sizes`` resolved (here, once) and its kind."""
        return SizeSchedule.of(self.train.sizes, self.data.image_size,
                               self.train.size_schedule, self.train.seed, self.train.epochs,
                               self.train.test_size_epochs)

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


def load_run_config(path: str | None, overrides: list[str]) -> RunConfig:
    """A config file (optional) plus dotted overrides, validated (``spp-lab train``)."""
    from spp_lab.errors import load_yaml

    tree = load_yaml(path) if path else {}
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise UserError(f"{path}: expected a mapping of sections (data, model, train, ...)")
    if is_experiment(tree):
        raise UserError(f"{path} is an experiment file, not a run config: run it with "
                        f"`spp-lab run {path}`, or one of its jobs with `spp-lab train "
                        f"--experiment {path} condition=NAME seed=N`")
    for text in overrides:
        key, value = parse_override(text)
        set_dotted(tree, key, value)
    return build_config(tree, source=path or "config")


def is_experiment(tree: Any) -> bool:
    """A mapping with an experiment file's own keys (base, grid, conditions, ...)."""
    return isinstance(tree, dict) and bool({"base", "grid", "zip", "conditions", "seeds"}
                                           & tree.keys())


def load_run_folder_config(run: Any) -> RunConfig:
    """The validated config of a run folder, or of the ``config.yaml`` given (edits and
    all); what ``spp_lab.load_config`` and ``spp-lab export`` read."""
    from pathlib import Path

    from spp_lab.fileio import Corrupt
    from spp_lab.results import RunFolder

    path = Path(run)
    given_yaml = path.name == RunFolder.config.name
    folder = RunFolder(path.parent if given_yaml else path)
    try:
        data = folder.read_config(fast=not given_yaml)
    except Corrupt as err:
        raise UserError(str(err)) from None
    if not data:
        raise UserError(f"{folder.config}: no such file; give a run folder "
                        "(results/<name>/runs/<run_id>)")
    return build_config(data, str(folder.config))
