"""``mnist1d``: the procedural MNIST-1D data set, generated locally and cached as ``.npz``."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np

from .cache import load_cached_npz, save_npz_atomic
from .dataset import Dataset

__all__ = ["load_mnist1d_dataset", "generate_mnist1d"]

_KEYS = ("x_train", "y_train", "x_test", "y_test")
_SOURCE = "mnist1d.make_dataset(get_dataset_args()), official 4000/1000 split (seed 42)"


def generate_mnist1d() -> dict[str, np.ndarray]:
    """Run ``mnist1d.data.make_dataset(get_dataset_args())`` (never the download path).

    Returns ``x_train`` float32 (4000, 1, 40), ``y_train`` int64 (4000,), ``x_test`` float32 (1000, 1, 40) and
    ``y_test`` int64 (1000,).
    """
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    return {
        "x_train": np.asarray(d["x"], dtype=np.float32).reshape(-1, 1, 40),
        "y_train": np.asarray(d["y"], dtype=np.int64),
        "x_test": np.asarray(d["x_test"], dtype=np.float32).reshape(-1, 1, 40),
        "y_test": np.asarray(d["y_test"], dtype=np.int64),
    }


def _cache_key() -> str:
    """The installed mnist1d version (read from package metadata, so a cache hit never imports mnist1d)."""
    try:
        return importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load_mnist1d_dataset(cache_dir: Path) -> Dataset:
    """MNIST-1D: x float32 (N, 1, 40), 10 classes, 4000 train / 1000 test; deterministic.

    The generated arrays are cached in ``cache_dir/mnist1d-<mnist1d version>.npz`` (atomic write) to skip the ~1 s
    regeneration.
    """
    path = cache_dir / f"mnist1d-{_cache_key()}.npz"
    arrays = load_cached_npz(path, _KEYS)
    if arrays is None:
        arrays = generate_mnist1d()
        save_npz_atomic(path, **arrays)
    return Dataset(**arrays, name="mnist1d", n_classes=10, source=_SOURCE)
