"""The LightningModule's switches and the data module, with real Lightning loops."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from spp_lab.config import DataConfig, ModelConfig, TrainConfig, build_config
from spp_lab.data import SPPDataModule
from spp_lab.data.shapes import CLASSES, make_scenes, render
from spp_lab.errors import UserError
from spp_lab.module import SPPClassifier

SMALL = ModelConfig(arch="zf5", width=0.125, stem="small", batchnorm=True, fc_dim=64)


def classifier(image_size: int, num_classes: int = 10, **train) -> SPPClassifier:
    return SPPClassifier(SMALL, TrainConfig(**train), num_classes=num_classes,
                         image_size=image_size)


def record_input_sizes(model: SPPClassifier) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    model.net.features.register_forward_pre_hook(lambda m, a: seen.append(tuple(a[0].shape[-2:])))
    return seen


def fit(model, dm, epochs: int, batches: int | None = None) -> pl.Trainer:
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         limit_train_batches=batches, limit_val_batches=1)
    trainer.fit(model, dm)
    return trainer


@pytest.fixture(scope="module")
def shapes_dm() -> SPPDataModule:
    return SPPDataModule(DataConfig(image_size=32, num_train=64, num_val=32, batch_size=16))


@pytest.mark.parametrize("schedule,expected", [
    # The paper: one size per epoch, alternating, ending at the test size (sizes[0]).
    ("epoch", [32] * 2 + [24] * 2 + [32] * 2),
    ("batch", [32, 24] * 3),
])
def test_multi_size_training_feeds_each_size(shapes_dm, schedule, expected):
    model = classifier(32, sizes=[32, 24], size_schedule=schedule, epochs=3)
    seen = record_input_sizes(model)
    model.net.features.train()
    fit(model, shapes_dm, epochs=3, batches=2)
    train_sizes = [s[0] for s, training in zip(seen, _train_flags(seen, 3, 2, 1))
                   if training]
    assert train_sizes == expected
    assert all(h == w for h, w in seen)


def _train_flags(seen, epochs, train_batches, val_batches):
    """Each epoch runs its train batches, then its validation batches."""
    flags = ([True] * train_batches + [False] * val_batches) * epochs
    assert len(flags) == len(seen)
    return flags


def test_random_schedule_draws_one_size_per_epoch_in_range():
    model = classifier(32, sizes=[32, 20], size_schedule="random", epochs=13)
    drawn = [model.train_size(0, epoch) for epoch in range(12)]
    assert set(drawn) <= set(range(20, 33)) and len(set(drawn)) > 3
    assert all(model.train_size(b, 5) == drawn[5] for b in range(4))  # fixed within an epoch
    assert model.train_size(0, 12) == 32  # the last epoch is at the test size


def test_epoch_schedule_ends_at_the_test_size():
    model = classifier(40, sizes=[40, 32], epochs=10)
    assert [model.train_size(0, e) for e in range(10)] == [32, 40] * 5


def test_full_image_evaluation_batches_by_size():
    dm = SPPDataModule(DataConfig(image_size=32, num_train=32, num_val=48, batch_size=8,
                                  eval_mode="full"))
    model = classifier(32, num_classes=dm.num_classes)
    seen = record_input_sizes(model)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False)
    out = trainer.validate(model, dm, verbose=False)
    assert {(32, 43), (32, 32), (43, 32)} <= set(seen)  # 3:4, 1:1 and 4:3 images, whole
    assert 0 <= out[0]["val/top1_err"] <= 100


def test_shapes_is_deterministic_and_resolution_independent():
    a, b = make_scenes(20, seed=3), make_scenes(20, seed=3)
    assert torch.equal(torch.stack(render(a, 24, crop=24)), torch.stack(render(b, 24, crop=24)))
    assert not torch.equal(make_scenes(20, 4).labels, a.labels)
    big = render(a, 96)
    assert {tuple(t.shape[1:]) for t in big} <= {(96, 128), (96, 96), (128, 96)}
    assert len(CLASSES) == 10 and len(set(make_scenes(500).labels.tolist())) == 10


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imgs")
    g = torch.Generator().manual_seed(0)
    for k, cls in enumerate(["cat", "dog", "eel"]):
        (root / cls).mkdir()
        for i in range(6):
            w, h = 40 + 8 * i, 48 + 4 * k
            arr = torch.randint(0, 255, (h, w, 3), generator=g, dtype=torch.uint8).numpy()
            Image.fromarray(arr).save(root / cls / f"{i}.png")
    return root


@pytest.mark.parametrize("mode", ["crop", "full"])
def test_imagefolder_splits_crops_and_full_views(image_folder, mode):
    dm = SPPDataModule(DataConfig(name="imagefolder", root=str(image_folder), image_size=32,
                                  val_fraction=0.34, batch_size=4, eval_mode=mode))
    assert dm.num_classes == 3 and len(dm.train_ds) + len(dm.val_ds) == 18
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.uint8
    shapes = {tuple(x.shape[-2:]) for x, _ in dm.val_dataloader()}
    assert shapes == {(32, 32)} if mode == "crop" else len(shapes) > 1
    assert all(min(s) == 32 for s in shapes)


def test_missing_dataset_root_is_a_user_error(tmp_path):
    dm = SPPDataModule(DataConfig(name="cifar10", root=str(tmp_path / "nowhere")))
    with pytest.raises(UserError, match="does not exist; put cifar10 there"):
        dm.setup()
    with pytest.raises(UserError, match="data.root: required"):
        SPPDataModule(DataConfig(name="imagefolder")).setup()


def test_pool_head_refuses_multi_size_in_config():
    with pytest.raises(UserError, match="fixed-size"):
        build_config({"model": {"head": "pool"}, "train": {"sizes": [64, 48]}})


def test_weight_average_is_evaluated_and_the_live_weights_train_on():
    from types import SimpleNamespace

    from spp_lab.callbacks import WeightAverage

    net = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    module = SimpleNamespace(net=net)
    ema = WeightAverage(0.5)
    with torch.no_grad():
        net[0].weight.fill_(0.0)
    ema.on_train_batch_end(None, module, None, None, 0)  # the first step: avg = w
    with torch.no_grad():
        net[0].weight.fill_(10.0)
        net[1].running_mean.fill_(3.0)
    ema.on_train_batch_end(None, module, None, None, 1)
    # step 2: d = min(0.5, (1 + 2) / (10 + 2)) = 0.25 → avg = 0.25·0 + 0.75·10 = 7.5
    ema.on_validation_start(None, module)
    assert torch.allclose(net[0].weight, torch.full_like(net[0].weight, 7.5))
    assert net[1].running_mean.item() == 3.0  # statistics: the live ones
    ema.on_validation_end(None, module)
    assert torch.allclose(net[0].weight, torch.full_like(net[0].weight, 10.0))
    again = WeightAverage(0.5)
    again.load_state_dict(ema.state_dict())  # travels in the checkpoint
    assert again.steps == 2 and torch.allclose(again.avg[0], ema.avg[0])


def test_shapes_scale_layout_and_fresh_scenes_per_epoch():
    from spp_lab.data.shapes import LAYOUTS, SHAPES

    sc = make_scenes(2000, seed=5, scale=(0.05, 0.3), gap=(3.0, 4.0))
    r = sc.radius[:, -2:]  # the pair (the clutter slots come first)
    assert r.min() >= 0.05 * 0.9 and r.max() <= 0.3 * 1.1  # jittered ±10% per copy
    assert (r.mean(1) < 0.1).any() and (r.mean(1) > 0.25).any()  # the range is used
    # The class depends on where the parts are: side by side apart in x, stacked in y.
    d = (sc.pos[:, -1] - sc.pos[:, -2]).abs()
    stacked = sc.labels // len(SHAPES) == LAYOUTS.index("stacked")
    assert (d[stacked, 1] > d[stacked, 0]).all() and (d[~stacked, 0] > d[~stacked, 1]).all()
    gap = d.max(1).values / sc.radius[:, -2:].mean(1)
    assert gap.min() > 3.0 * 0.85 and gap.max() < 4.0 * 1.15
    # data.resample: epoch 0 is the fixed set, each later epoch a new draw, fixed per seed.
    assert torch.equal(make_scenes(50, 3).pos, make_scenes(50, 3, epoch=0).pos)
    assert not torch.equal(make_scenes(50, 3).pos, make_scenes(50, 3, epoch=1).pos)
    assert torch.equal(make_scenes(50, 3, epoch=2).pos, make_scenes(50, 3, epoch=2).pos)


def test_fresh_training_scenes_and_test_views_through_the_data_module():
    dm = SPPDataModule(DataConfig(image_size=32, num_train=64, num_val=16, num_test=24,
                                  batch_size=8, resample=True, test_views=["full", 48]))
    dm.setup()
    first = torch.stack([dm.train_ds[i, 0][0] for i in range(4)])  # keys: (index, epoch)
    assert not torch.equal(first, torch.stack([dm.train_ds[i, 1][0] for i in range(4)]))
    assert torch.equal(first, torch.stack([dm.train_ds[i, 0][0] for i in range(4)]))
    sides = {tuple(x.shape[-2:]) for x, _ in dm.test_view_loader("full")}
    assert {(32, 43), (32, 32), (43, 32)} >= sides and len(sides) > 1
    assert {tuple(x.shape[-2:]) for x, _ in dm.test_view_loader(48)} == {(48, 48)}
    assert dm.counts == {"train": 64, "val": 16, "test": 24}


@pytest.fixture(scope="module")
def sorted_folder(tmp_path_factory) -> Path:
    """train/ and val/ sorted by class (as on disk), and a test/ folder missing a class."""
    root = tmp_path_factory.mktemp("sorted")
    for split, n in (("train", 6), ("val", 4), ("test", 2)):
        for k, cls in enumerate(["a", "b", "c", "d"]):
            if split == "test" and cls == "b":
                continue
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (40, 40), (60 * k, 20 * i, 0)).save(
                    root / split / cls / f"{i}.png")
    return root


def test_image_folder_test_split_counts_and_shuffled_validation(sorted_folder):
    dm = SPPDataModule(DataConfig(name="imagefolder", root=str(sorted_folder),
                                  image_size=32, batch_size=4))
    assert dm.counts == {"train": 24, "val": 16, "test": 6, "ignored": 0}
    assert dm.classes == ["a", "b", "c", "d"]
    test_labels = sorted(dm.test_ds.labels)
    assert test_labels == [0, 0, 2, 2, 3, 3]  # keyed by class name: 'b' is missing
    first = dm.val_ds.labels[:4]
    assert len(set(first)) > 1  # a capped evaluation sees several classes, not class 'a'
    again = SPPDataModule(DataConfig(name="imagefolder", root=str(sorted_folder),
                                     image_size=32, batch_size=4))
    again.setup()
    assert again.val_ds.labels == dm.val_ds.labels  # fixed order, seeded


def test_stratified_test_fraction_without_a_test_folder(image_folder):
    from spp_lab.data.datasets import stratified_split

    dm = SPPDataModule(DataConfig(name="imagefolder", root=str(image_folder), image_size=32,
                                  val_fraction=0.34, test_fraction=0.25))
    counts = dm.counts
    assert counts["test"] > 0 and sum(counts.values()) == 18
    held = sorted(dm.test_ds.labels)
    assert set(held) == {0, 1, 2}  # every class held out in proportion
    labels = [0] * 10 + [1] * 4 + [2] * 1
    keep, out = stratified_split(labels, 0.3, seed=0)
    assert sorted(keep + out) == list(range(15)) and not set(keep) & set(out)
    assert [labels[i] for i in out].count(0) == 3 and [labels[i] for i in out].count(1) == 1
    assert 14 in keep  # a class of one image stays in training
    assert stratified_split(labels, 0.3, seed=0) == (keep, out)
    assert stratified_split(labels, 0.3, seed=1) != (keep, out)


@pytest.mark.parametrize("workers", [0, 2])
def test_training_crops_change_every_epoch_with_persistent_workers(image_folder, workers):
    """Loader workers outlive an epoch (persistent_workers) with their own copy of the
    dataset; the crops must still follow the epoch Lightning hands the sampler."""
    dm = SPPDataModule(DataConfig(name="imagefolder", root=str(image_folder), image_size=32,
                                  val_fraction=0.34, batch_size=4, num_workers=workers))
    loader = dm.train_dataloader()
    assert loader.persistent_workers == (workers > 0)
    seen = []
    for epoch in (0, 1, 0):
        loader.sampler.set_epoch(epoch)  # what Lightning does at each epoch's start
        crops = sorted((int(y), x.float().sum().item()) for xb, yb in loader
                       for x, y in zip(xb, yb))
        seen.append(crops)
    assert seen[0] != seen[1] and seen[0] == seen[2]  # new crops, and a function of epoch


def test_lightning_hands_the_epoch_to_the_crops(image_folder):
    """Nothing but Lightning's sampler.set_epoch carries the epoch to the crops."""
    dm = SPPDataModule(DataConfig(name="imagefolder", root=str(image_folder), image_size=32,
                                  val_fraction=0.34, batch_size=4, num_workers=2))
    seen: dict[int, list] = {}

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.setdefault(trainer.current_epoch, []).extend(
                sorted(x.float().sum().item() for x in batch[0]))

    model = classifier(32, num_classes=dm.num_classes)
    pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False,
               num_sanity_val_steps=0, limit_val_batches=1, callbacks=[Record()]).fit(model, dm)
    assert len(seen[0]) == len(seen[1]) == 12 and sorted(seen[0]) != sorted(seen[1])


def test_every_stage_feeds_the_network_the_same_input():
    """uint8 pixels are normalised alike in training, validation and test; float items are
    taken as they are in all three (training once normalised them as pixels)."""
    clf = classifier(32)
    pixels = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    floats = torch.randn(2, 3, 32, 32)
    want = (pixels.float() - clf.mean) / clf.std
    for stage in ("train", "val", "test"):
        assert torch.equal(clf.inputs(pixels, 0, stage), want), stage
        assert torch.equal(clf.inputs(floats, 0, stage), floats), stage
