"""Denoising autoencoder data: noisy smooth 32-sample signals x (N, 32) and their clean versions y (N, 32).

A clean signal on t = 0..31 (samples) is the sum of 1-2 sinusoids (period 6-40 samples, amplitude 0.3-1, random
phase) and 0-1 Gaussian bump (centre 0-31, width 1.5-5 samples, height -1.5..1.5), plus a random offset
(-0.5..0.5). The input adds white Gaussian noise (sigma 0.2-0.6 per signal). Both x and y are standardized with the
clean training signals' global mean and std (one scalar pair, so y stays the clean version of x; unitless).
6000 train / 1500 test; y is float32 (a regression target for MSE, model output size 32).
"""

from __future__ import annotations

import numpy as np
from datacache import main

NAME = "autoencoder"
VERSION = 1
LENGTH = 32
N_TRAIN, N_TEST = 6000, 1500


def clean_signals(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 32) float64 clean signals: sinusoids + Gaussian bumps + offset."""
    t = np.arange(LENGTH, dtype=np.float64)[None, :]
    x = rng.uniform(-0.5, 0.5, size=(n, 1)) * np.ones((1, LENGTH))
    n_sin = rng.integers(1, 3, size=n)
    for k in range(2):
        on = (k < n_sin)[:, None]
        period = rng.uniform(6, 40, size=(n, 1))
        amp = rng.uniform(0.3, 1.0, size=(n, 1))
        x += on * amp * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, size=(n, 1)))
    n_bump = rng.integers(0, 2, size=n)
    for k in range(1):
        on = (k < n_bump)[:, None]
        c = rng.uniform(0, LENGTH - 1, size=(n, 1))
        w = rng.uniform(1.5, 5.0, size=(n, 1))
        x += on * rng.uniform(-1.5, 1.5, size=(n, 1)) * np.exp(-0.5 * ((t - c) / w) ** 2)
    return x


def generate(seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST) -> dict[str, np.ndarray]:
    """The data set at ``seed``: x float32 (N, 32) noisy signals, y float32 (N, 32) clean signals, standardized."""
    rng = np.random.default_rng([seed, 1007])
    n = n_train + n_test
    clean = clean_signals(rng, n)
    noisy = clean + rng.uniform(0.2, 0.6, size=(n, 1)) * rng.standard_normal((n, LENGTH))
    mean, std = clean[:n_train].mean(), clean[:n_train].std()
    x, y = ((noisy - mean) / std).astype(np.float32), ((clean - mean) / std).astype(np.float32)
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}


if __name__ == "__main__":
    main(NAME, VERSION, generate)
