"""Streaming ImageFolder data set (ImageNet from a local directory), decoded per batch, never held in memory.

Layout (the usual ImageNet preparation, validation images moved into class folders)::

    DIR/train/<class>/*.JPEG
    DIR/val/<class>/*.JPEG

Classes are the sorted ``train`` folder names (index = position); ``val`` must use the same names. Files with the
extensions in :data:`IMAGE_EXTENSIONS` (any case) count as images.

Transforms (the standard ImageNet recipe, also the CSQ reference's ``dist_img_cs.py``), for a crop size S (224 by
default; the model's input shape decides it through :meth:`ImageFolderDataset.reshaped`):

* train: RandomResizedCrop(S, scale=(0.08, 1), ratio=(3/4, 4/3)) + horizontal flip with probability 0.5;
* test: resize the shorter side to ``round(S / 0.875)`` (256 for 224) + centre crop S;
* both: RGB in [0, 1], normalised with the ImageNet channel mean/std; a sample is float32 (3, S, S).

Augmentation is a pure function of ``(seed, epoch, index)``, so a run is reproducible whatever the number of loader
workers or DDP ranks, and a resumed run sees the crops it would have seen. Decoding uses Pillow (a matplotlib
dependency); torchvision is not used because its PyPI wheels are built for CUDA torch and fail to load against the
CPU build that csq-hw's CI installs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from csq_hw.errors import UserError

from .source import LoaderSource

__all__ = ["IMAGE_EXTENSIONS", "IMAGENET_MEAN", "IMAGENET_STD", "ImageFolderDataset", "ImageFolderSplit"]

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp", ".ppm")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LAYOUT = "DIR/train/<class>/*.JPEG and DIR/val/<class>/*.JPEG"


def _list_split(root: Path, classes: list[str] | None) -> tuple[list[str], list[str], np.ndarray]:
    """(classes, file paths, labels int64 (N,)) of one split directory."""
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist; lay the data out as {_LAYOUT}")
    found = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if classes is None:
        classes = found
    elif unknown := sorted(set(found) - set(classes)):
        raise UserError(
            f"{root} has class folders not in train/ ({', '.join(unknown[:3])}); use the same class folder names"
        )
    index = {c: i for i, c in enumerate(classes)}
    paths: list[str] = []
    labels: list[int] = []
    for c in found:
        entries = os.scandir(root / c)
        files = sorted(e.path for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        paths += files
        labels += [index[c]] * len(files)
    if not paths:
        raise UserError(
            f"no images in {root} (extensions {', '.join(IMAGE_EXTENSIONS)}); lay the data out as {_LAYOUT}"
        )
    return classes, paths, np.asarray(labels, dtype=np.int64)


def _random_resized_crop(
    rng: np.random.Generator, width: int, height: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
) -> tuple[int, int, int, int]:
    """(left, top, w, h) as torchvision's ``RandomResizedCrop.get_params``: 10 tries at a random area fraction and
    log-uniform aspect ratio, then the centre crop at the clamped aspect ratio."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def _to_tensor(img: Any) -> torch.Tensor:
    """RGB PIL image -> normalised float32 (3, H, W)."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(IMAGENET_MEAN, dtype=np.float32)) / np.asarray(IMAGENET_STD, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


@dataclass(eq=False)
class ImageFolderSplit(torch.utils.data.Dataset):
    """One split as a map-style torch data set: ``split[i] -> (x float32 (3, S, S), y int64 scalar)``.

    ``train`` selects the random augmentation (seeded by ``seed``, ``epoch`` and the index) or the deterministic
    resize + centre crop. Set ``epoch`` before each pass (the trainer does).
    """

    paths: list[str]
    labels: np.ndarray
    size: int = 224
    train: bool = False
    seed: int = 0
    epoch: int = 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image  # here, not at import: ``import csq_hw`` does not load PIL

        path = self.paths[i]
        try:
            with Image.open(path) as f:
                img = f.convert("RGB")
        except (OSError, ValueError) as e:
            raise UserError(f"cannot decode image {path} ({e}); remove or replace the file") from None
        s = self.size
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            left, top, w, h = _random_resized_crop(rng, *img.size)
            img = img.resize((s, s), Image.BILINEAR, box=(left, top, left + w, top + h))
            if rng.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            short = round(s / 0.875)
            width, height = img.size
            scale = short / min(width, height)
            img = img.resize((max(s, round(width * scale)), max(s, round(height * scale))), Image.BILINEAR)
            left, top = (img.size[0] - s) // 2, (img.size[1] - s) // 2
            img = img.crop((left, top, left + s, top + s))
        return _to_tensor(img), torch.tensor(int(self.labels[i]), dtype=torch.int64)


@dataclass(eq=False)
class ImageFolderDataset:
    """ImageNet-style data set streamed from ``root`` (train and val splits, see the module docstring).

    Mirrors the parts of :class:`~csq_hw.data.dataset.Dataset` the trainer uses (``name``, ``n_classes``,
    ``n_train``, ``n_test``, ``sample_shape``, ``reshaped``, ``train_source``, ``test_source``) but holds file paths,
    not arrays. ``workers``: loader processes per training process (DataLoader ``num_workers``).
    """

    root: Path
    name: str = "imagenet"
    size: int = 224
    workers: int = 4
    classes: list[str] = dataclasses.field(default_factory=list, repr=False)
    train: ImageFolderSplit | None = dataclasses.field(default=None, repr=False)
    test: ImageFolderSplit | None = dataclasses.field(default=None, repr=False)

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None, workers: int = 4) -> ImageFolderDataset:
        """Index ``root`` (lists the files; decodes nothing). One-line :class:`UserError` for a missing or
        malformed directory."""
        if root is None:
            raise UserError(f"data set 'imagenet' needs --data-dir DIR (data_dir in a config) with {_LAYOUT}")
        base = Path(root).expanduser()
        classes, train_paths, train_labels = _list_split(base / "train", None)
        _, test_paths, test_labels = _list_split(base / "val", classes)
        return cls(
            root=base,
            workers=workers,
            classes=classes,
            train=ImageFolderSplit(train_paths, train_labels, train=True),
            test=ImageFolderSplit(test_paths, test_labels, train=False),
        )

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_test(self) -> int:
        return len(self.test)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (3, self.size, self.size)

    @property
    def source(self) -> str:
        return f"ImageFolder {self.root} ({self.n_train} train / {self.n_test} val images, {self.n_classes} classes)"

    def reshaped(self, input_shape: tuple[int, ...]) -> ImageFolderDataset:
        """This data set cropping to the model's input (3, S, S); a clear error for any other shape."""
        shape = tuple(int(d) for d in input_shape)
        if len(shape) != 3 or shape[0] != 3 or shape[1] != shape[2] or shape[1] < 8:
            raise UserError(
                f"data set '{self.name}' gives RGB images (3, S, S) but the model expects {shape}; "
                "pick an image model (resnet18, resnet50)"
            )
        size = shape[1]
        return dataclasses.replace(
            self,
            size=size,
            train=dataclasses.replace(self.train, size=size),
            test=dataclasses.replace(self.test, size=size),
        )

    def train_source(self, device: torch.device, seed: int = 0) -> LoaderSource:
        """Training batches, augmented with ``seed``; decoded by ``workers`` loader processes."""
        return LoaderSource(dataclasses.replace(self.train, seed=seed), device, self.workers)

    def test_source(self, device: torch.device) -> LoaderSource:
        """Validation batches (resize + centre crop)."""
        return LoaderSource(self.test, device, self.workers)
