"""Vibration / machine-fault signals: 6 classes of 128-sample accelerometer-like windows, x (N, 1, 128), y int64.

Time is in samples; the shaft turns ``fr`` = 2.5-4 revolutions per 128-sample window (random per sample) with a
random phase. Every class carries the shaft's 1x harmonic (so that fault rates can be related to the speed) and
Gaussian noise (sigma 0.1-0.4 of the 1x amplitude scale):

- 0 healthy: weak 1x (0.3-0.6) and 2x (0.05-0.2);
- 1 imbalance: strong 1x (0.9-1.8), weak 2x;
- 2 misalignment: strong 2x (0.5-1.2) over a moderate 1x, some 3x;
- 3 bearing outer race: impulses at BPFO = 3.0-3.6 x fr, each a decaying ring (0.15-0.4 cycles/sample, decay
  2-5 samples, height 1.2-2.5), constant height;
- 4 bearing inner race: impulses at BPFI = 5.2-6.0 x fr, heights amplitude-modulated by the 1x (depth 0.7-1);
- 5 mechanical looseness: 1x..8x harmonics with slowly decaying random amplitudes plus a half-order (0.5x), the
  sum hard-clipped at a random level.

Then the whole window is scaled by a random gain (0.5-2) and standardized with the training set's global mean and
std (unitless). 6000 train / 1500 test, balanced.
"""

from __future__ import annotations

import numpy as np
from datacache import classification_split, main

NAME = "signals"
VERSION = 1
LENGTH = 128
N_CLASSES = 6
N_TRAIN, N_TEST = 6000, 1500
CLASSES = ("healthy", "imbalance", "misalignment", "outer_race", "inner_race", "looseness")


def _harmonic(t, fr, k, amp, phase):
    return amp * np.sin(2 * np.pi * k * fr * t / LENGTH + phase)


def _impulses(rng: np.random.Generator, t, rate: float, heights_fn) -> np.ndarray:
    """Decaying rings at ``rate`` impulses per window (random start), heights ``heights_fn(times)``."""
    period = LENGTH / rate
    times = np.arange(-period * rng.random(), LENGTH, period)
    times = times + rng.normal(0, 0.03 * period, size=times.size)  # slip
    f_ring = rng.uniform(0.15, 0.4)
    decay = rng.uniform(2.0, 5.0)
    dt = t[None, :] - times[:, None]
    rings = np.where(dt >= 0, np.exp(-np.clip(dt, 0, None) / decay) * np.sin(2 * np.pi * f_ring * dt), 0.0)
    return (heights_fn(times)[:, None] * rings).sum(0)


def signal(rng: np.random.Generator, label: int) -> np.ndarray:
    """One (128,) float64 window of class ``label`` (arbitrary units)."""
    t = np.arange(LENGTH, dtype=np.float64)
    fr = rng.uniform(2.5, 4.0)
    ph = rng.uniform(0, 2 * np.pi, size=9)
    cls = CLASSES[label]
    x = np.zeros(LENGTH)
    if cls == "healthy":
        x += _harmonic(t, fr, 1, rng.uniform(0.3, 0.6), ph[1]) + _harmonic(t, fr, 2, rng.uniform(0.05, 0.2), ph[2])
    elif cls == "imbalance":
        x += _harmonic(t, fr, 1, rng.uniform(0.9, 1.8), ph[1]) + _harmonic(t, fr, 2, rng.uniform(0.05, 0.2), ph[2])
    elif cls == "misalignment":
        x += _harmonic(t, fr, 1, rng.uniform(0.3, 0.8), ph[1]) + _harmonic(t, fr, 2, rng.uniform(0.5, 1.2), ph[2])
        x += _harmonic(t, fr, 3, rng.uniform(0.0, 0.3), ph[3])
    elif cls in ("outer_race", "inner_race"):
        x += _harmonic(t, fr, 1, rng.uniform(0.3, 0.6), ph[1])
        height = rng.uniform(1.2, 2.5)
        if cls == "outer_race":
            x += _impulses(rng, t, rng.uniform(3.0, 3.6) * fr, lambda s: np.full(s.shape, height))
        else:
            depth = rng.uniform(0.7, 1.0)
            mod = lambda s: height * (1 + depth * np.cos(2 * np.pi * fr * s / LENGTH + ph[4])) / (1 + depth)  # noqa: E731
            x += _impulses(rng, t, rng.uniform(5.2, 6.0) * fr, mod)
    else:  # looseness
        amps = rng.uniform(0.5, 1.0) * np.exp(-np.arange(8) * rng.uniform(0.1, 0.3)) * rng.uniform(0.5, 1.0, 8)
        for k in range(8):
            x += _harmonic(t, fr, k + 1, amps[k], ph[k + 1])
        x += _harmonic(t, fr, 0.5, rng.uniform(0.1, 0.4), ph[0])
        clip = rng.uniform(0.5, 1.0) * np.abs(x).max()
        x = np.clip(x, -clip, clip)
    x += rng.uniform(0.1, 0.4) * rng.standard_normal(LENGTH)
    return x * rng.uniform(0.5, 2.0)


def generate(seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST) -> dict[str, np.ndarray]:
    """The data set at ``seed``: x float32 (N, 1, 128) standardized windows, y int64 (N,) fault classes 0..5."""
    rng = np.random.default_rng([seed, 1003])
    n = n_train + n_test
    y = rng.permutation(np.arange(n) % N_CLASSES)
    x = np.stack([signal(rng, int(k)) for k in y])[:, None]
    return classification_split(x, y, n_train, axis=None)


if __name__ == "__main__":
    main(NAME, VERSION, generate)
