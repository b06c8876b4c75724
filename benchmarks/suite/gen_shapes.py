"""Procedural shapes: 16x16 grayscale images of 10 shape classes, x (N, 1, 16, 16) standardized, y int64 (N,).

Classes: 0 filled circle, 1 ring, 2 filled square, 3 hollow square, 4 filled triangle, 5 cross (x), 6 plus (+),
7 horizontal bars (2-3), 8 vertical bars (2-3), 9 one diagonal line. Each shape is drawn from a signed distance
function with ~1 px anti-aliasing at a random centre (+-3 px), size (radius 3-7 px), stroke width (1-2.5 px) and
rotation (free for circles, squares and triangles; +-15 deg around the class's orientation for the oriented
classes, so that cross vs plus and horizontal vs vertical bars stay defined), random contrast (foreground
0.45-1.0 over a background 0-0.3 with a gentle gradient), optional blur, additive Gaussian noise (sigma 0.03-0.18)
and, in 40 % of the images, clutter (a random short stroke or blob). Pixels are standardized with the training
set's global mean and std (unitless). 6000 train / 1500 test, balanced.
"""

from __future__ import annotations

import numpy as np
from datacache import classification_split, main
from scipy.ndimage import gaussian_filter

NAME = "shapes"
VERSION = 1
SIZE = 16
N_CLASSES = 10
N_TRAIN, N_TEST = 6000, 1500
CLASSES = ("circle", "ring", "square", "hollow_square", "triangle", "cross", "plus", "hbars", "vbars", "diagonal")
# base orientation (deg) and whether the rotation is free (else +-15 deg jitter around the base)
ORIENT = {"cross": 45.0, "plus": 0.0, "hbars": 0.0, "vbars": 90.0, "diagonal": 45.0}


def _segment(px, py, ax, ay, bx, by):
    """Distance from points (px, py) to the segment (ax, ay)-(bx, by) (broadcasting arrays)."""
    dx, dy = bx - ax, by - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy + 1e-12), 0, 1)
    return np.hypot(px - ax - t * dx, py - ay - t * dy)


def _box(px, py, hx, hy):
    """Signed distance to an axis-aligned box of half sizes (hx, hy) centred at 0."""
    qx, qy = np.abs(px) - hx, np.abs(py) - hy
    return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)


def _triangle(px, py, r):
    """Signed distance to an equilateral triangle of circumradius ``r`` centred at 0, apex up (-y)."""
    k = np.sqrt(3.0)
    s = r * k / 2  # half side
    px = np.abs(px) - s
    py = -py + r / 2
    flip = px + k * py > 0
    px, py = np.where(flip, (px - k * py) / 2, px), np.where(flip, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * s, 0)
    return -np.hypot(px, py) * np.sign(py)


def sdf(cls: str, u, v, r, w):
    """Signed distance (px) of class ``cls`` in rotated, centred coordinates (u, v), size ``r``, stroke ``w``."""
    half = w / 2
    if cls == "circle":
        return np.hypot(u, v) - r
    if cls == "ring":
        return np.abs(np.hypot(u, v) - r) - half
    if cls == "square":
        return _box(u, v, 0.8 * r, 0.8 * r)
    if cls == "hollow_square":
        return np.abs(_box(u, v, 0.8 * r, 0.8 * r)) - half
    if cls == "triangle":
        return _triangle(u, v, 1.1 * r)
    if cls in ("cross", "plus"):
        return np.minimum(_box(u, v, r, half), _box(u, v, half, r))
    if cls in ("hbars", "vbars"):
        n = 2 + int(r > 5)
        offs = np.linspace(-0.7 * r, 0.7 * r, n)
        return np.min([_box(u, v - o, r, half) for o in offs], axis=0)
    if cls == "diagonal":
        return _segment(u, v, -r, 0.0, r, 0.0) - half
    raise ValueError(cls)


def draw(rng: np.random.Generator, label: int) -> np.ndarray:
    """One (16, 16) float64 image of class ``label``, intensities about 0..1 plus noise."""
    cls = CLASSES[label]
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    cx, cy = SIZE / 2 + rng.uniform(-3, 3, size=2)
    r = rng.uniform(3.0, 7.0)
    w = rng.uniform(1.0, 2.5)
    if cls in ORIENT:
        angle = ORIENT[cls] + rng.uniform(-15, 15) + (90.0 * rng.integers(2) if cls == "diagonal" else 0.0)
    else:
        angle = rng.uniform(0, 360)
    a = np.deg2rad(angle)
    u = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
    v = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)
    shape = np.clip(0.5 - sdf(cls, u, v, r, w), 0, 1)
    if rng.random() < 0.4:  # clutter: a short stroke or a small blob elsewhere
        if rng.random() < 0.5:
            ax, ay, bx, by = rng.uniform(0, SIZE, size=4)
            clutter = np.clip(0.5 - (_segment(xx, yy, ax, ay, ax + (bx - ax) / 3, ay + (by - ay) / 3) - 0.5), 0, 1)
        else:
            bx, by = rng.uniform(0, SIZE, size=2)
            clutter = np.clip(0.5 - (np.hypot(xx - bx, yy - by) - rng.uniform(0.7, 1.5)), 0, 1)
        shape = np.maximum(shape, clutter * rng.uniform(0.3, 0.9))
    if rng.random() < 0.3:
        shape = gaussian_filter(shape, rng.uniform(0.4, 0.8))
    bg = (
        rng.uniform(0, 0.3)
        + rng.uniform(-0.1, 0.1) * (xx - SIZE / 2) / SIZE
        + rng.uniform(-0.1, 0.1) * (yy - SIZE / 2) / SIZE
    )
    img = bg + rng.uniform(0.45, 1.0) * shape
    return img + rng.uniform(0.03, 0.18) * rng.standard_normal((SIZE, SIZE))


def generate(seed: int = 0, n_train: int = N_TRAIN, n_test: int = N_TEST) -> dict[str, np.ndarray]:
    """The data set at ``seed``: x float32 (N, 1, 16, 16) standardized pixels, y int64 (N,) shape classes 0..9."""
    rng = np.random.default_rng([seed, 1002])
    n = n_train + n_test
    y = rng.permutation(np.arange(n) % N_CLASSES)
    x = np.stack([draw(rng, int(k)) for k in y])[:, None]
    return classification_split(x, y, n_train, axis=None)


if __name__ == "__main__":
    main(NAME, VERSION, generate)
