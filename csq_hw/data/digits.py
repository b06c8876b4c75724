"""``digits``: scikit-learn's embedded 8x8 handwritten digits (offline, the default data set)."""

from __future__ import annotations

import numpy as np

from .dataset import Dataset

__all__ = ["load_digits_dataset"]


def load_digits_dataset() -> Dataset:
    """sklearn ``load_digits``: x = pixels/16 as float32, shape (N, 1, 8, 8); 10 classes.

    Stratified 75/25 split with ``random_state=0``: 1347 train / 450 test samples. Deterministic.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
    return Dataset(
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        name="digits",
        n_classes=10,
        source="sklearn load_digits, stratified 75/25 split, random_state=0",
    )
