"""Regression MLP F-32-32-1: Linear-BatchNorm1d-ReLU, Linear-ReLU, Linear (one output, standardized target).

``n_classes`` is the output size (1 for y of shape (N, 1)); input (F,) samples.
"""

from __future__ import annotations

import math

from torch import nn


def build(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The float model for one sample of ``input_shape`` (F,) with ``n_classes`` outputs (1: the target)."""
    f = math.prod(input_shape)
    return nn.Sequential(
        nn.Linear(f, 32),
        nn.BatchNorm1d(32),
        nn.ReLU(),
        nn.Linear(32, 32),
        nn.ReLU(),
        nn.Linear(32, n_classes),
    )
