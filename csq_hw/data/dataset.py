"""The :class:`Dataset` container: train/test arrays plus name, class count and provenance."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from csq_hw.errors import CsqWarning, UserError

from .source import TensorSource

__all__ = ["Dataset"]


def _as_x(name: str, field: str, x: object) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise UserError(
            f"data set '{name}': {field} has dtype {arr.dtype}, expected numbers; store the features as float32"
        )
    if arr.ndim < 2:
        raise UserError(
            f"data set '{name}': {field} has shape {arr.shape}, expected (N, ...) with one row per sample; "
            "add a feature axis, e.g. x.reshape(len(x), -1)"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


def _as_y(name: str, field: str, y: object) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise UserError(
            f"data set '{name}': {field} has shape {arr.shape}, expected (N,) integer class labels; "
            "store one integer label per sample (argmax one-hot labels first)"
        )
    if arr.dtype.kind in "iub":
        return np.ascontiguousarray(arr, dtype=np.int64)
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return np.ascontiguousarray(arr, dtype=np.int64)
    if arr.dtype.kind == "f" and arr.size == 0:
        return arr.astype(np.int64)
    raise UserError(
        f"data set '{name}': {field} holds non-integer labels (dtype {arr.dtype}); "
        "store class labels as integers 0..n_classes-1"
    )


#: feature magnitudes beyond these: a warning (badly scaled for training), an error (beyond exact fixed point)
WARN_FEATURE_ABS, MAX_FEATURE_ABS = 2.0**16, 2.0**40


def _check_range(name: str, field: str, x: np.ndarray) -> None:
    """Refuse features above 2^40 in magnitude (their fixed-point input format would take the exact float64 model
    and the firmware types beyond 53 bits); warn above 2^16 (an 8-bit input quantizer then keeps only the top
    of the range, and training with such inputs tends to diverge)."""
    peak = float(np.abs(x).max()) if x.size else 0.0
    fix = "standardize the features first, e.g. (x - mean) / std per feature"
    if peak > MAX_FEATURE_ABS:
        raise UserError(f"data set '{name}': {field} reaches |x| = {peak:.3g}, beyond 2^40; {fix}")
    if peak > WARN_FEATURE_ABS:
        warnings.warn(f"data set '{name}': {field} reaches |x| = {peak:.3g}, beyond 2^16; {fix}", CsqWarning,
                      stacklevel=4)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set split into train and test parts.

    Arrays (converted on construction, then validated):

    - ``x_train``: float32, shape (N_train, *sample_shape), e.g. (N, C, H, W) images, (N, C, L) sequences or
      (N, F) feature vectors.
    - ``y_train``: int64, shape (N_train,), labels in ``[0, n_classes)``.
    - ``x_test``: float32, shape (N_test, *sample_shape).
    - ``y_test``: int64, shape (N_test,).

    ``name`` is the registry name (``digits``, ``jets``, ...), ``n_classes`` the number of classes and ``source``
    says where the data came from and which split was used (e.g. ``"OpenML 42468, stratified 80/20 split ..."``).
    Construction raises :class:`~csq_hw.errors.UserError` (one line: problem and fix) on mismatched lengths,
    different train/test sample shapes, labels outside ``[0, n_classes)`` or non-finite features.
    """

    x_train: np.ndarray = dataclasses.field(repr=False)
    y_train: np.ndarray = dataclasses.field(repr=False)
    x_test: np.ndarray = dataclasses.field(repr=False)
    y_test: np.ndarray = dataclasses.field(repr=False)
    name: str
    n_classes: int
    source: str = ""

    def __post_init__(self) -> None:
        name = self.name
        set_ = object.__setattr__  # frozen: normalise the arrays in place of the caller's
        set_(self, "x_train", _as_x(name, "x_train", self.x_train))
        set_(self, "x_test", _as_x(name, "x_test", self.x_test))
        set_(self, "y_train", _as_y(name, "y_train", self.y_train))
        set_(self, "y_test", _as_y(name, "y_test", self.y_test))
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 1:
            raise UserError(f"data set '{name}': n_classes={self.n_classes!r} is invalid; pass a positive integer")
        set_(self, "n_classes", int(self.n_classes))
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if len(x) != len(y):
                raise UserError(
                    f"data set '{name}': x_{part} has {len(x)} samples but y_{part} has {len(y)} labels; "
                    "give every sample exactly one label"
                )
            if len(x) == 0:
                raise UserError(f"data set '{name}': the {part} split is empty; provide at least one {part} sample")
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= self.n_classes:
                raise UserError(
                    f"data set '{name}': y_{part} has labels in [{lo}, {hi}], outside [0, {self.n_classes}); "
                    f"relabel the classes as 0..{self.n_classes - 1} or raise n_classes"
                )
            if not np.all(np.isfinite(x)):
                bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
                raise UserError(
                    f"data set '{name}': x_{part} has {bad} NaN/inf values; drop or impute them before training"
                )
            _check_range(name, f"x_{part}", x)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise UserError(
                f"data set '{name}': train samples have shape {self.x_train.shape[1:]} but test samples "
                f"{self.x_test.shape[1:]}; store both splits with the same per-sample shape"
            )

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. (1, 8, 8) for ``digits`` or (16,) for ``jets``."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(len(self.x_train))

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(len(self.x_test))

    def reshaped(self, input_shape: tuple[int, ...]) -> Dataset:
        """A copy with ``x_train``/``x_test`` reshaped to (N, *input_shape), e.g. (64,) for an MLP on ``digits``.

        Raises :class:`~csq_hw.errors.UserError` when one sample of the data set does not hold exactly
        ``prod(input_shape)`` values.
        """
        shape = tuple(int(d) for d in input_shape)
        have = math.prod(self.sample_shape)
        want = math.prod(shape) if shape and all(d > 0 for d in shape) else -1
        if have != want:
            raise UserError(
                f"data set '{self.name}' has samples of shape {self.sample_shape} ({have} values) but the model "
                f"expects input shape {shape} ({want if want >= 0 else 'invalid'} values); pick a model built for "
                f"this data set or a data set whose samples have {want if want >= 0 else 'that many'} values"
            )
        if shape == self.sample_shape:
            return self
        return dataclasses.replace(
            self,
            x_train=self.x_train.reshape((self.n_train, *shape)),
            x_test=self.x_test.reshape((self.n_test, *shape)),
        )

    def train_source(self, device: torch.device, seed: int = 0) -> TensorSource:
        """The training split as tensors on ``device`` (``seed`` is unused: no augmentation)."""
        return TensorSource(torch.as_tensor(self.x_train, device=device), torch.as_tensor(self.y_train, device=device))

    def test_source(self, device: torch.device) -> TensorSource:
        """The test split as tensors on ``device``."""
        return TensorSource(torch.as_tensor(self.x_test, device=device), torch.as_tensor(self.y_test, device=device))

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_classes={self.n_classes}, train={self.n_train}, test={self.n_test}, "
            f"sample_shape={self.sample_shape}, source={self.source!r})"
        )
