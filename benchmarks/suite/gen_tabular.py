"""Tabular classification from ``sklearn.datasets.make_classification``: x (N, 24) standardized, y int64 (N,).

24 features (12 informative, 4 redundant linear mixtures, 8 noise), 6 classes of 2 Gaussian clusters each on the
vertices of a hypercube (``class_sep`` 1.0), 3 % of the labels flipped at random (``flip_y`` 0.03), and the
features scaled by a random factor per feature (log-uniform 0.1-10, sklearn's ``scale``; undone by the per-feature
standardization with the training set's mean and std, unitless). 8000 train / 2000 test.
"""

from __future__ import annotations

import numpy as np
from datacache import classification_split, main
from sklearn.datasets import make_classification

NAME = "tabular"
VERSION = 1
N_TRAIN, N_TEST = 8000, 2000
CLASS_SEP = 1.0


def generate(seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST) -> dict[str, np.ndarray]:
    """The data set at ``seed``: x float32 (N, 24) standardized features, y int64 (N,) classes 0..5."""
    rng = np.random.default_rng([seed, 1004])
    x, y = make_classification(
        n_samples=n_train + n_test,
        n_features=24,
        n_informative=12,
        n_redundant=4,
        n_classes=6,
        n_clusters_per_class=2,
        flip_y=0.03,
        class_sep=CLASS_SEP,
        scale=10 ** rng.uniform(-1, 1, size=24),
        shuffle=True,
        random_state=int(rng.integers(2**31)),
    )
    return classification_split(x, y, n_train, axis=0)


if __name__ == "__main__":
    main(NAME, VERSION, generate)
