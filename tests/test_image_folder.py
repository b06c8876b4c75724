"""Streaming ImageFolder data set (ImageNet layout) and the ImageNet ResNets, on a tiny on-disk fixture."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from csq_hw.data import ImageFolderDataset, LoaderSource, TensorSource, load_dataset, sequential_plan
from csq_hw.data.image_folder import _random_resized_crop
from csq_hw.errors import UserError
from csq_hw.zoo.models import build_model, input_shape_for, n_classes_for

CLASSES = ("ant", "bee", "cat")


def _write(path: Path, size: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """3 classes; 4 train images each (mixed sizes, .png and .JPEG), 2 val images each; plus a stray text file."""
    root = tmp_path_factory.mktemp("imagenet")
    for c, name in enumerate(CLASSES):
        for i in range(4):
            ext = ".png" if i % 2 else ".JPEG"
            _write(root / "train" / name / f"{i}{ext}", (40 + 7 * i, 36 + 5 * c), 10 * c + i)
        for i in range(2):
            _write(root / "val" / name / f"v{i}.png", (48, 40), 100 + 10 * c + i)
    (root / "train" / "ant" / "README.txt").write_text("not an image")
    return root


def test_index_lists_classes_files_and_labels(folder: Path) -> None:
    data = load_dataset("imagenet", data_dir=folder)
    assert isinstance(data, ImageFolderDataset)
    assert data.classes == list(CLASSES) and data.n_classes == 3
    assert (data.n_train, data.n_test) == (12, 6)  # the .txt file is not an image
    assert data.train.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert data.sample_shape == (3, 224, 224)
    assert data.reshaped((3, 32, 32)).sample_shape == (3, 32, 32)


def test_normalisation_by_hand(tmp_path: Path) -> None:
    # a uniform grey image (128, 128, 128): x_c = (128 / 255 - mean_c) / std_c
    #   R: (0.501961 - 0.485) / 0.229 = 0.074065
    #   G: (0.501961 - 0.456) / 0.224 = 0.205182
    #   B: (0.501961 - 0.406) / 0.225 = 0.426493
    for split in ("train", "val"):
        p = tmp_path / split / "grey" / "g.png"
        p.parent.mkdir(parents=True)
        Image.new("RGB", (50, 30), (128, 128, 128)).save(p)
    data = ImageFolderDataset.open(tmp_path, workers=0).reshaped((3, 16, 16))
    for split in (data.train, data.test):  # any crop of a uniform image is uniform
        x, y = split[0]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and int(y) == 0
        for c, want in enumerate((0.074065, 0.205182, 0.426493)):
            assert torch.allclose(x[c], torch.full((16, 16), want), atol=1e-5)


def test_test_transform_is_resize_then_centre_crop(tmp_path: Path) -> None:
    # 64 x 32 image, left half black, right half white. S = 14: shorter side -> round(14 / 0.875) = 16, so the image
    # becomes 32 x 16; the centre 14 x 14 crop spans columns 9..22, i.e. 7 black-ish and 7 white-ish columns.
    img = np.zeros((32, 64, 3), dtype=np.uint8)
    img[:, 32:] = 255
    for split in ("train", "val"):
        p = tmp_path / split / "k" / "a.png"
        p.parent.mkdir(parents=True)
        Image.fromarray(img).save(p)
    data = ImageFolderDataset.open(tmp_path, workers=0).reshaped((3, 14, 14))
    x, _ = data.test[0]
    red = x[0] * 0.229 + 0.485  # back to [0, 1]
    assert red.shape == (14, 14)
    assert torch.all(red[:, :6] < 0.05) and torch.all(red[:, 8:] > 0.95)  # columns 6, 7 straddle the edge


def test_train_augmentation_depends_on_seed_epoch_index_only(folder: Path) -> None:
    data = ImageFolderDataset.open(folder, workers=0).reshaped((3, 24, 24))
    a, b = data.train_source(torch.device("cpu"), seed=1), data.train_source(torch.device("cpu"), seed=1)
    plan = [torch.tensor([0, 5, 7]), torch.tensor([11, 2])]
    first = [x for x, _ in a.batches(plan, epoch=3)]
    again = [x for x, _ in b.batches(plan, epoch=3)]
    other = [x for x, _ in a.batches(plan, epoch=4)]
    assert all(torch.equal(u, v) for u, v in zip(first, again, strict=True))
    assert not all(torch.equal(u, v) for u, v in zip(first, other, strict=True))
    test1 = [x for x, _ in data.test_source(torch.device("cpu")).batches(sequential_plan(6, 4), epoch=0)]
    test2 = [x for x, _ in data.test_source(torch.device("cpu")).batches(sequential_plan(6, 4), epoch=9)]
    assert all(torch.equal(u, v) for u, v in zip(test1, test2, strict=True))  # no randomness at test time


def test_loader_workers_give_the_same_batches(folder: Path) -> None:
    data = ImageFolderDataset.open(folder).reshaped((3, 20, 20))
    plan = [torch.tensor([3, 1, 4]), torch.tensor([1, 5, 9, 2]), torch.tensor([6])]
    zero = LoaderSource(data.train, torch.device("cpu"), workers=0)
    two = LoaderSource(data.train, torch.device("cpu"), workers=2)
    for (x0, y0), (x2, y2) in zip(zero.batches(plan, epoch=1), two.batches(plan, epoch=1), strict=True):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)
    assert [len(y) for _, y in zero.batches(plan)] == [3, 4, 1]


def test_tensor_source_matches_indexing() -> None:
    x, y = torch.arange(20.0).reshape(10, 2), torch.arange(10)
    out = list(TensorSource(x, y).batches([torch.tensor([9, 0]), torch.tensor([4])]))
    assert torch.equal(out[0][0], x[[9, 0]]) and out[1][1].tolist() == [4]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.integers(0, 2**32 - 1))
def test_random_resized_crop_stays_inside(width: int, height: int, seed: int) -> None:
    left, top, w, h = _random_resized_crop(np.random.default_rng(seed), width, height)
    assert 0 <= left and 0 <= top and 0 < w and 0 < h
    assert left + w <= width and top + h <= height


def test_random_resized_crop_area_and_ratio_on_a_large_image() -> None:
    # on a 1000 x 1000 image the first try always fits: area fraction in [0.08, 1], aspect in [3/4, 4/3] up to
    # the rounding of w and h to whole pixels
    rng = np.random.default_rng(0)
    for _ in range(300):
        _, _, w, h = _random_resized_crop(rng, 1000, 1000)
        assert 0.08 * 1e6 * 0.98 <= w * h <= 1e6
        assert 3 / 4 - 0.01 <= w / h <= 4 / 3 + 0.01


@pytest.mark.parametrize(
    "layout, match",
    [
        ("nothing", "does not exist"),
        ("empty_val", "no images"),
        ("extra_val_class", "not in train"),
        ("corrupt", "cannot decode"),
    ],
)
def test_bad_folders_give_one_line_errors(tmp_path: Path, layout: str, match: str) -> None:
    if layout != "nothing":
        _write(tmp_path / "train" / "a" / "x.png", (20, 20), 0)
        (tmp_path / "val" / "a").mkdir(parents=True)
    if layout in ("extra_val_class", "corrupt"):
        _write(tmp_path / "val" / "a" / "y.png", (20, 20), 1)
    if layout == "extra_val_class":
        _write(tmp_path / "val" / "zebra" / "z.png", (20, 20), 2)
    if layout == "corrupt":
        (tmp_path / "train" / "a" / "bad.jpeg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError) as e:
        data = ImageFolderDataset.open(tmp_path, workers=0).reshaped((3, 16, 16))
        [data.train[i] for i in range(data.n_train)]
    assert match in str(e.value) and "\n" not in str(e.value)


def test_imagenet_needs_data_dir_and_an_image_model(folder: Path) -> None:
    with pytest.raises(UserError, match="--data-dir"):
        load_dataset("imagenet")
    with pytest.raises(UserError, match="resnet18"):
        load_dataset("imagenet", data_dir=folder).reshaped((64,))


def test_imagenet_resnets_match_torchvision_shapes() -> None:
    # torchvision: resnet18 11,689,512 and resnet50 25,557,032 parameters
    counts = {n: sum(p.numel() for p in build_model(n).parameters()) for n in ("resnet18", "resnet50")}
    assert counts == {"resnet18": 11_689_512, "resnet50": 25_557_032}
    keys = set(build_model("resnet18").state_dict())
    assert {"conv1.weight", "layer1.0.conv2.weight", "layer2.0.shortcut.0.weight", "fc.bias"} <= keys
    m = build_model("resnet50", width=8, n_classes=7).eval()
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 7)
    assert input_shape_for("resnet18", {"image_size": 32}) == (3, 32, 32)
    assert input_shape_for("resnet18") == (3, 224, 224) and n_classes_for("resnet50", {"n_classes": 7}) == 7
    with pytest.raises(UserError, match="image_size"):
        input_shape_for("resnet18", {"image_size": 4})


def test_csq_layers_of_the_imagenet_resnets() -> None:
    from csq_hw.quant.convert import QuantConfig, convert
    from csq_hw.quant.layers import csq_layers
    from csq_hw.zoo.models import full_precision_for

    for name, n_csq, n_float in (("resnet18", 18, 3), ("resnet50", 50, 4)):  # 17 / 49 convs + FC; 1x1 shortcuts
        m = convert(build_model(name, width=8), QuantConfig(full_precision=full_precision_for(name)))
        names = [n for n, _ in csq_layers(m)]
        assert len(names) == n_csq and not any("shortcut" in n for n in names)
        assert sum(isinstance(mod, torch.nn.Conv2d) and "shortcut" in n for n, mod in m.named_modules()) == n_float


@pytest.mark.slow
def test_train_resnet18_on_an_image_folder(folder: Path, tmp_path: Path) -> None:
    """`csq-hw train` end to end on the fixture: streamed data, 2 epochs (search, hard), exact model written."""
    cfg = tmp_path / "r18.toml"
    cfg.write_text(
        '[model]\nname = "resnet18"\nkwargs = { width = 4, image_size = 24, n_classes = 3 }\nmax_bits = 4\n'
        f'[data]\ndataset = "imagenet"\ndata_dir = "{folder}"\nbatch_size = 4\n'
        '[train]\nepochs = 2\nticket_epoch = 1\noptimizer = "sgd"\nlr = 0.05\n[budget]\nspec = "size=u3"\n'
    )
    out = tmp_path / "run"
    env = {"CSQ_HW_LOADER_WORKERS": "1", "PATH": "", "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "csq_hw.cli.main", "train", "--config", str(cfg), "--out", str(out), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cost_over_budget"] <= 1.0 and 0.0 <= summary["test_acc"] <= 1.0
    assert not math.isnan(summary["test_acc"])
    precisions = json.loads((out / "precisions.json").read_text())
    assert precisions["model"]["input_shape"] == [3, 24, 24] and precisions["model"]["n_classes"] == 3
    assert len(precisions["layers"]) == 18
