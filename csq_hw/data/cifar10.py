"""``cifar10``: CIFAR-10 from a local copy of the python-pickle batches (never downloaded).

Expected layout: ``DIR/cifar-10-batches-py/{data_batch_1..5,test_batch}`` (the extracted ``cifar-10-python.tar.gz``
from https://www.cs.toronto.edu/~kriz/cifar.html), with ``DIR`` given as ``data_dir`` or env ``CSQ_HW_CIFAR10_DIR``;
``DIR`` may also be the ``cifar-10-batches-py`` folder itself. The batches are unpickled: only point this at files
you trust.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from csq_hw.errors import UserError

from ._text import describe_exc
from .dataset import Dataset

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "CIFAR10_TRAIN_BATCHES", "find_cifar10_dir", "load_cifar10_dataset"]

CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2023, 0.1994, 0.2010)
CIFAR10_TRAIN_BATCHES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
_SUBDIR = "cifar-10-batches-py"
_HOWTO = (
    f"download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, extract it so that "
    f"DIR/{_SUBDIR}/data_batch_1..5 and test_batch exist, then pass --data-dir DIR or set CSQ_HW_CIFAR10_DIR=DIR"
)


def find_cifar10_dir(data_dir: Path | None) -> Path:
    """The folder holding ``data_batch_1``: looked up in ``data_dir``, then env ``CSQ_HW_CIFAR10_DIR``."""
    roots = [data_dir] if data_dir is not None else []
    env = os.environ.get("CSQ_HW_CIFAR10_DIR")
    if env:
        roots.append(Path(env).expanduser())
    for root in roots:
        for cand in (root / _SUBDIR, root):
            if (cand / "data_batch_1").is_file():
                return cand
    looked = ", ".join(str(r) for r in roots) or "nowhere (no --data-dir and CSQ_HW_CIFAR10_DIR unset)"
    raise UserError(f"cifar10: no local copy found (looked in {looked}); {_HOWTO}")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickle batch: images uint8 (n, 3, 32, 32) and labels int64 (n,)."""
    if not path.is_file():
        raise UserError(f"cifar10: batch file {path} is missing; {_HOWTO}")
    try:
        with path.open("rb") as f:
            batch = pickle.load(f, encoding="bytes")
        get = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
        data = np.asarray(get["data"], dtype=np.uint8)
        labels = np.asarray(get["labels"], dtype=np.int64)
        images = data.reshape(-1, 3, 32, 32)
    except Exception as exc:  # unpickling/format errors come in many types
        raise UserError(
            f"cifar10: {path} is not a CIFAR-10 python batch ({describe_exc(exc)}); re-extract it: {_HOWTO}"
        ) from exc
    if len(images) != len(labels):
        raise UserError(f"cifar10: {path} has {len(images)} images but {len(labels)} labels; re-extract it")
    return images, labels


def _normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 3, 32, 32) -> float32 (n, 3, 32, 32): ``(x / 255 - mean) / std`` per channel."""
    mean = np.asarray(CIFAR10_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR10_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    out = images.astype(np.float32)
    out /= 255.0
    out -= mean
    out /= std
    return out


def load_cifar10_dataset(data_dir: Path | None = None) -> Dataset:
    """CIFAR-10: x float32 (N, 3, 32, 32) normalised with :data:`CIFAR10_MEAN`/:data:`CIFAR10_STD`, 10 classes.

    Official split: 50000 train (data_batch_1..5) / 10000 test (test_batch).
    """
    root = find_cifar10_dir(data_dir)
    train = [_read_batch(root / b) for b in CIFAR10_TRAIN_BATCHES]
    x_te, y_te = _read_batch(root / "test_batch")
    return Dataset(
        x_train=_normalise(np.concatenate([x for x, _ in train])),
        y_train=np.concatenate([y for _, y in train]),
        x_test=_normalise(x_te),
        y_test=y_te,
        name="cifar10",
        n_classes=10,
        source=f"local CIFAR-10 python batches in {root}, official 50000/10000 split",
    )
