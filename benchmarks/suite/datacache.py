"""Shared plumbing of the suite's data generators: the cache directory, atomic ``.npz`` writes, standardization.

Every generator module (``gen_*.py``) defines ``NAME``, ``VERSION`` and ``generate(seed) -> dict`` returning the
four arrays ``x_train, y_train, x_test, y_test``; :func:`load_or_generate` caches them as
``DATA_DIR/NAME-vVERSION-sSEED.npz`` and regenerates only when that file is missing or unreadable.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "KEYS",
    "DEFAULT_DATA_DIR",
    "cache_path",
    "load_or_generate",
    "save_npz_atomic",
    "standardize",
    "classification_split",
    "main",
]

KEYS = ("x_train", "y_train", "x_test", "y_test")
DEFAULT_DATA_DIR = Path("~/.cache/csq-hw/suite").expanduser()


def cache_path(name: str, version: int, seed: int, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``DATA_DIR/NAME-vVERSION-sSEED.npz`` (``DATA_DIR`` defaults to ``~/.cache/csq-hw/suite``)."""
    root = Path(data_dir).expanduser() if data_dir is not None else DEFAULT_DATA_DIR
    return root / f"{name}-v{version}-s{seed}.npz"


def save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz`` via a temp file in the same directory + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in KEYS} if all(k in z.files for k in KEYS) else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def _check(arrays: dict[str, np.ndarray]) -> None:
    for key in KEYS:
        a = arrays[key]
        if key.startswith("x") and a.dtype != np.float32:
            raise TypeError(f"{key} must be float32, is {a.dtype}")
        if key.startswith("y") and a.dtype not in (np.int64, np.float32):
            raise TypeError(f"{key} must be int64 (classes) or float32 (targets), is {a.dtype}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise ValueError(f"{key} has NaN/inf")
    if len(arrays["x_train"]) != len(arrays["y_train"]) or len(arrays["x_test"]) != len(arrays["y_test"]):
        raise ValueError("x and y lengths differ")


def load_or_generate(
    name: str,
    version: int,
    generate: Callable[[int], dict[str, np.ndarray]],
    seed: int = 0,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
) -> Path:
    """The cached ``.npz`` path of data set ``name`` at ``seed``, generating (and atomically writing) it if missing."""
    path = cache_path(name, version, seed, data_dir)
    if _load(path) is None:
        t0 = time.perf_counter()
        arrays = generate(seed)
        _check(arrays)
        save_npz_atomic(path, arrays)
        if verbose:
            shapes = ", ".join(f"{k} {tuple(arrays[k].shape)}" for k in KEYS)
            print(f"generated {path} in {time.perf_counter() - t0:.1f} s: {shapes}", flush=True)
    return path


def standardize(
    x_train: np.ndarray, x_test: np.ndarray, axis: int | tuple[int, ...] | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(x - mean) / std with the mean and std of ``x_train`` over ``axis`` (0: per feature), as float32."""
    mean = x_train.mean(axis=axis, keepdims=True, dtype=np.float64)
    std = x_train.std(axis=axis, keepdims=True, dtype=np.float64)
    std = np.where(std > 1e-12, std, 1.0)
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def classification_split(
    x: np.ndarray, y: np.ndarray, n_train: int, axis: int | tuple[int, ...] | None = 0
) -> dict[str, np.ndarray]:
    """The four arrays of a classification set: the first ``n_train`` samples train, the rest test; x standardized
    with the training statistics over ``axis`` (:func:`standardize`), y as int64 labels."""
    x_tr, x_te = standardize(x[:n_train], x[n_train:], axis=axis)
    return {"x_train": x_tr, "y_train": y[:n_train].astype(np.int64), "x_test": x_te,
            "y_test": y[n_train:].astype(np.int64)}  # fmt: skip


def main(name: str, version: int, generate: Callable[[int], dict[str, np.ndarray]]) -> None:
    """The command line of a generator module: ``python gen_X.py [--seed S] [--data-dir D] [--force]``."""
    parser = argparse.ArgumentParser(description=f"generate the suite's {name} data set (cached .npz)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help=f"cache directory (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--force", action="store_true", help="regenerate even if the cached file exists")
    args = parser.parse_args()
    if args.force:
        cache_path(name, version, args.seed, args.data_dir).unlink(missing_ok=True)
    print(load_or_generate(name, version, generate, args.seed, args.data_dir, verbose=True))
