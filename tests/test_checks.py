"""The checks before any job runs (spp_lab.checks, no torch): exact messages for geometry,
image folders and devices, each distinct config checked, and what a sample decodes."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from spp_lab.checks import check_configs, eval_sides, view_sides
from spp_lab.config import RunConfig, build_config
from spp_lab.errors import UserError


def _cfg(**tree):
    return build_config(tree)


@pytest.mark.parametrize("tree,message", [
    ({"data": {"image_size": 8}}, "data.image_size: zf5 (stem small) cannot take 8-px"),
    ({"data": {"image_size": 32}, "model": {"stem": "small", "head": "pool", "pool5_bins": 6}},
     "model.pool5_bins: head='pool' cannot make 6×6 bins"),
    ({"data": {"image_size": 48}, "model": {"stem": "small", "bins": "paper",
                                            "levels": [3, 2, 1]}},
     "model.levels: bins='paper' cannot make 3×3 bins from the 5×5 conv map"),
    ({"data": {"image_size": 48}, "model": {"stem": "small"}, "train": {"sizes": [48, 4]}},
     "train.sizes: zf5 (stem small) cannot take 4-px inputs"),
    ({"data": {"image_size": 40, "eval_mode": "full"}, "model": {"stem": "small",
                                                                 "head": "pool",
                                                                 "pool5_bins": 2}},
     "data.eval_mode: head='pool' is fixed-size"),
    ({"data": {"name": "imagefolder"}}, "data.root: required"),
    ({"data": {"name": "cifar10", "root": "/nowhere"}}, "put cifar10 there"),
])
def test_pre_run_checks_name_the_key(tree, message):
    with pytest.raises(UserError) as err:
        check_configs([("job", _cfg(**tree))], "f.yaml", gpus=[])
    assert message in str(err.value) and str(err.value).startswith("f.yaml: ")


def test_pre_run_checks_on_image_folders(tmp_path):
    root = tmp_path / "imgs"
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(root / split / cls / "0.png")
    ok = _cfg(data={"name": "imagefolder", "root": str(root)})
    check_configs([("", ok)], "f", gpus=[])
    (root / "val" / "c").mkdir()
    Image.new("RGB", (8, 8)).save(root / "val" / "c" / "0.png")
    with pytest.raises(UserError, match="val has classes that train/ lacks"):
        check_configs([("", ok)], "f", gpus=[])
    os.remove(root / "val" / "c" / "0.png")
    with pytest.raises(UserError, match="class folders without images"):
        check_configs([("", ok)], "f", gpus=[])
    (root / "val" / "c").rmdir()
    gpu = _cfg(train={"accelerator": "gpu"})
    with pytest.raises(UserError, match="no visible GPU"):
        check_configs([("", gpu)], "f", gpus=[])
    check_configs([("", gpu)], "f", gpus=None)  # a cluster's GPUs are not ours to see


def test_views_give_their_sides():
    shapes = RunConfig().data.model_copy(update={"image_size": 30, "eval_mode": "full"})
    assert eval_sides(shapes) == [30, 40]  # 4:3 scenes: 30 short side, 40 long
    assert view_sides(shapes, 48) == [48]
    assert eval_sides(RunConfig().data) == [64]


ZF_SMALL = ": zf5 (stem small) cannot take {}-px inputs: a layer's window is larger than its " \
    "input; sides from 10 px work"


def _checked(*trees: dict, label: str = "job") -> str | None:
    """check_configs over the configs of ``trees``: its message, or None if it passes."""
    from spp_lab.checks import check_configs
    from spp_lab.config import build_config

    try:
        check_configs([(label, build_config(t)) for t in trees], "f.yaml", gpus=[])
    except UserError as err:
        return str(err)
    return None


def test_geometry_messages_name_each_key_and_list_the_first_three_problems():
    small = {"model": {"stem": "small"}}
    # Every bad side is reported (not only the first), three at most, one per line.
    got = _checked(small | {"data": {"image_size": 48}, "train": {"sizes": [48, 4, 5, 6, 7]}})
    assert got == "f.yaml: job: " + "\n".join(f"train.sizes{ZF_SMALL.format(s)}"
                                               for s in (4, 5, 6))
    # The evaluation view and each test view are checked under their own keys.
    assert _checked(small | {"data": {"image_size": 4}, "train": {"sizes": [48, 64]}}) \
        == f"f.yaml: job: data.eval_mode{ZF_SMALL.format(4)}"
    assert _checked(small | {"data": {"image_size": 32, "test_views": [4]}}, label="") \
        == f"f.yaml: data.test_views{ZF_SMALL.format(4)}"
    assert _checked(small | {"data": {"image_size": 32, "test_views": ["full", 48]}}) is None
    pool = {"stem": "small", "head": "pool", "pool5_bins": 3}
    # A fixed-size head is never given the test views (they are null for it).
    assert _checked({"model": pool, "data": {"image_size": 32, "test_views": [4]}}) is None
    assert _checked({"model": pool | {"pool5_bins": 9}, "data": {"image_size": 32}}) == (
        "f.yaml: job: model.pool5_bins: head='pool' cannot make 9×9 bins from the 3-pixel "
        "conv map of 32-px inputs; use pool5_bins ≤ 3, a larger data.image_size, or "
        "head='spp'")


def test_each_distinct_config_is_checked_even_when_the_first_passes():
    ok = {"model": {"stem": "small"}, "data": {"image_size": 32}}
    for bad in ({"model": {"stem": "small", "head": "pool", "pool5_bins": 6},
                 "data": {"image_size": 32}},
                {"model": {"stem": "small"}, "data": {"image_size": 4}},
                {"model": {"stem": "small"}, "data": {"image_size": 32},
                 "train": {"sizes": [32, 4]}},
                {"data": {"name": "imagefolder"}},
                {"data": {"name": "cifar10", "root": "/nowhere"}}):
        assert _checked(ok, bad) is not None, bad
    cifar = {"name": "cifar10", "root": "/nowhere"}
    assert _checked({"data": cifar | {"download": True}}) is None  # fetched by the job
    assert _checked({"data": {"name": "caltech101", "root": "/nowhere", "download": True}}) \
        is None
    assert _checked({"data": cifar | {"download": True}}, {"data": cifar}) == (
        "f.yaml: data.root: /nowhere does not exist; put cifar10 there (or set "
        "data.download: true)")
    assert _checked({"data": {"name": "imagefolder", "root": "/nowhere", "download": True}}) \
        == "f.yaml: data.root: /nowhere does not exist"


def _images(folder, names, bad=()):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        if n in bad:
            (folder / n).write_bytes(b"not an image")
        else:
            Image.new("RGB", (8, 8)).save(folder / n)


def test_image_folder_checks_exact_messages(tmp_path):
    from spp_lab.data.registry import IMAGE_EXTS

    def check(root):
        return _checked({"data": {"name": "imagefolder", "root": str(root)}})

    exts = ", ".join(IMAGE_EXTS)
    # No train/val split: the root's folders are the classes (one may be called train).
    _images(tmp_path / "a" / "train" / "x", ["0.png"])
    _images(tmp_path / "a" / "other", ["0.png"])
    assert check(tmp_path / "a") is None
    (tmp_path / "b" / "train").mkdir(parents=True)
    (tmp_path / "b" / "val").mkdir()
    assert check(tmp_path / "b") == (f"f.yaml: data.root: {tmp_path}/b/train is not an image "
                                     "folder: it holds no class folder; expected "
                                     f"{tmp_path}/b/train/<class>/<image> (extensions: {exts})")
    _images(tmp_path / "b" / "train" / "c", ["0.png"])
    _images(tmp_path / "b" / "train" / "d", ["0.png"])
    assert f"{tmp_path}/b/val is not an image folder: it holds no class folder; expected " \
        f"{tmp_path}/b/val/<class>" in check(tmp_path / "b")
    # Some class folders empty: each is named (five at most); all empty: one line.
    for n, suffix in ((1, ""), (5, ""), (6, " (+1 more)"), (7, " (+2 more)")):
        root = tmp_path / f"empty{n}"
        _images(root / "full", ["0.png"])
        for i in range(n):
            (root / f"k{i}").mkdir(parents=True)
        listed = ", ".join(str(root / f"k{i}") for i in range(min(n, 5)))
        assert check(root) == f"f.yaml: data.root: class folders without images: {listed}" \
            + suffix
    wrong = tmp_path / "wrong"
    for i in range(159):
        (wrong / f"project{i}" / "src").mkdir(parents=True)
    assert check(wrong) == (f"f.yaml: data.root: {wrong} is not an image folder: none of its "
                            f"159 folders holds an image; expected {wrong}/<class>/<image> "
                            f"(extensions: {exts})")
    for i in range(3):  # a few image folders among many others: still a wrong root
        _images(wrong / f"photos{i}", ["0.png"])
    assert check(wrong).startswith(f"f.yaml: data.root: {wrong} is not an image folder: 159 "
                                   "of its 162 folders hold no image; expected")
    extra = tmp_path / "c"
    _images(extra / "train" / "k0", ["0.png"])
    _images(extra / "train" / "k9", ["0.png"])
    for i in range(7):
        _images(extra / "val" / f"k{i}", ["0.png"])
    assert check(extra) == (f"f.yaml: data.root: {extra}/val has classes that train/ lacks: "
                            "['k1', 'k2', 'k3', 'k4', 'k5']")


def test_image_folders_as_users_have_them(tmp_path):
    """Hidden folders (Jupyter's, macOS's) are not classes, non-images are not images, and
    one class is not a classification problem."""
    def check(root):
        return _checked({"data": {"name": "imagefolder", "root": str(root)}})

    root = tmp_path / "digits"
    _images(root / "zero", ["0.png", "1.png"])
    _images(root / "one", ["0.png"])
    (root / ".ipynb_checkpoints").mkdir()
    (root / "__MACOSX" / "zero").mkdir(parents=True)
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "zero" / "README.txt").write_text("not an image")
    (root / "zero" / ".hidden.png").write_bytes(b"junk")
    assert check(root) is None
    from spp_lab.data.folder import scan

    found = scan(root)
    assert found.classes == ["one", "zero"] and len(found.files) == 3
    assert [p.name for p in found.ignored] == ["README.txt"]
    one = tmp_path / "one"
    _images(one / "only", ["0.png", "1.png"])
    (one / ".ipynb_checkpoints").mkdir()
    assert check(one) == (f"f.yaml: data.root: {one} has one class folder ('only'); a "
                          "classifier needs at least two")


def test_a_sample_of_images_decodes_two_per_class_sixteen_at_most(tmp_path):
    def check(root):
        return _checked({"data": {"name": "imagefolder", "root": str(root)}})

    _images(tmp_path / "first" / "a", ["0.png", "1.png"], bad=["0.png"])  # first class
    _images(tmp_path / "first" / "b", ["0.png"])
    assert check(tmp_path / "first") == (
        f"f.yaml: data.root: {tmp_path}/first/a/0.png is not a readable image (cannot "
        f"identify image file '{tmp_path}/first/a/0.png'); remove or replace it, or set "
        "data.skip_bad: true (spp-lab check-data FILE lists every bad file)")
    _images(tmp_path / "second" / "a", ["0.png", "1.png"], bad=["1.png"])
    _images(tmp_path / "second" / "b", ["0.png"])
    assert "second/a/1.png is not a readable image" in check(tmp_path / "second")
    # The check stays cheap: two images per class; a third is left to the loader.
    _images(tmp_path / "third" / "a", ["0.png", "1.png", "2.png"], bad=["2.png"])
    _images(tmp_path / "third" / "b", ["0.png"])
    assert check(tmp_path / "third") is None
    for i in range(17):  # 34 images: every second one is decoded, 16 in all
        _images(tmp_path / "many" / f"k{i:02d}", ["0.png", "1.png"])
    assert check(tmp_path / "many") is None


def test_image_folders_that_differ_only_in_root_are_each_checked(tmp_path):
    _images(tmp_path / "good" / "a", ["0.png"])
    _images(tmp_path / "good" / "b", ["0.png"])
    good = {"data": {"name": "imagefolder", "root": str(tmp_path / "good")}}
    bad = {"data": {"name": "imagefolder", "root": str(tmp_path / "bad")}}
    assert _checked(good) is None
    assert _checked(good, bad) == f"f.yaml: data.root: {tmp_path}/bad does not exist"
