"""Regression: Friedman #1 with 12 features, x (N, 12) standardized, y float32 (N, 1) standardized.

``sklearn.datasets.make_friedman1``: features uniform on [0, 1]; the target
``10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise`` (Gaussian noise sigma 1.0) depends on the first 5
features only, the other 7 are distractors. The features are then standardized per feature and the target
standardized, both with the training set's mean and std (unitless), so a perfect model has MSE = noise variance /
target variance ~ 0.04 (R^2 ~ 96 %). 6000 train / 1500 test.
"""

from __future__ import annotations

import numpy as np
from datacache import main, standardize
from sklearn.datasets import make_friedman1

NAME = "regression"
VERSION = 1
N_TRAIN, N_TEST = 6000, 1500
NOISE = 1.0


def generate(seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST) -> dict[str, np.ndarray]:
    """The data set at ``seed``: x float32 (N, 12), y float32 (N, 1) standardized target."""
    rng = np.random.default_rng([seed, 1006])
    x, y = make_friedman1(n_samples=n_train + n_test, n_features=12, noise=NOISE, random_state=int(rng.integers(2**31)))
    x_tr, x_te = standardize(x[:n_train], x[n_train:], axis=0)
    y_tr, y_te = standardize(y[:n_train, None], y[n_train:, None], axis=0)
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


if __name__ == "__main__":
    main(NAME, VERSION, generate)
