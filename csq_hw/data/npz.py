"""``npz:PATH``: a user data set stored as one ``.npz`` file with x_train, y_train, x_test, y_test."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from csq_hw.errors import UserError

from ._text import describe_exc
from .dataset import Dataset

__all__ = ["NPZ_KEYS", "NPZ_SCHEMA", "load_npz_dataset"]

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_SCHEMA = (
    "x_train/x_test float (N,C,H,W), (N,C,L) or (N,F); y_train/y_test integer labels 0..K-1, shape (N,); "
    "write it with numpy.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
)


def _labels(path: Path, key: str, y: np.ndarray) -> np.ndarray:
    if y.ndim != 1:
        raise UserError(
            f"{path}: {key} has shape {y.shape}, expected (N,) integer class labels; "
            "store one integer label per sample (argmax one-hot labels first)"
        )
    if y.dtype.kind in "iu":
        return y.astype(np.int64)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        raise UserError(f"{path}: {key} holds non-integer labels; store class labels as integers 0..K-1")
    raise UserError(f"{path}: {key} has dtype {y.dtype}, expected integer labels; map the classes to integers 0..K-1")


def _features(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: {key} has dtype {x.dtype}, expected numbers; store the features as float32")
    if not 2 <= x.ndim <= 4:
        raise UserError(
            f"{path}: {key} has shape {x.shape}, expected (N,F), (N,C,L) or (N,C,H,W); "
            "reshape it so that axis 0 indexes the samples"
        )
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise UserError(f"{path}: {key} contains NaN/inf values; drop or impute them before saving the file")
    return x


def load_npz_dataset(path: str | Path) -> Dataset:
    """Load a user data set from ``path`` (see :data:`NPZ_SCHEMA`).

    x arrays become float32 (N, *sample_shape) with 2 <= ndim <= 4, y arrays int64 (N,); ``n_classes`` is the
    largest label + 1. Every problem (missing file, missing keys, bad dtype or shape, NaNs, non-integer or negative
    labels) raises a one-line :class:`~csq_hw.errors.UserError` naming the file, the problem and the fix.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"npz data set {path} not found; check the path after 'npz:' ({NPZ_SCHEMA})")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: not a readable .npz file (not a zip archive); {NPZ_SCHEMA}")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise UserError(
                    f"{path}: missing arrays {', '.join(missing)} (found {', '.join(z.files) or 'none'}); "
                    f"save all four: {NPZ_SCHEMA}"
                )
            raw = {k: z[k] for k in NPZ_KEYS}
    except UserError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise UserError(
                f"{path}: holds object (pickled) arrays, which are not loaded for safety; save plain numeric arrays "
                f"({NPZ_SCHEMA})"
            ) from exc
        raise UserError(f"{path}: not a readable .npz file ({describe_exc(exc)}); {NPZ_SCHEMA}") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npz file ({describe_exc(exc)}); {NPZ_SCHEMA}") from exc

    x_tr, x_te = _features(path, "x_train", raw["x_train"]), _features(path, "x_test", raw["x_test"])
    y_tr, y_te = _labels(path, "y_train", raw["y_train"]), _labels(path, "y_test", raw["y_test"])
    for part, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        if len(x) != len(y):
            raise UserError(
                f"{path}: x_{part} has {len(x)} samples but y_{part} has {len(y)} labels; give every sample one label"
            )
        if len(y) == 0:
            raise UserError(f"{path}: the {part} split is empty; store at least one {part} sample")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise UserError(
            f"{path}: x_train samples have shape {x_tr.shape[1:]} but x_test samples {x_te.shape[1:]}; "
            "store both splits with the same per-sample shape"
        )
    lo = int(min(y_tr.min(), y_te.min()))
    if lo < 0:
        raise UserError(f"{path}: labels include {lo}; relabel the classes as integers 0..K-1")
    n_classes = int(max(y_tr.max(), y_te.max())) + 1
    return Dataset(
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        name=f"npz:{path.stem}",
        n_classes=n_classes,
        source=f"npz file {path} (user split)",
    )
