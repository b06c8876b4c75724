"""MLP autoencoder 32-16-8-16-32 with ReLU between layers, linear output (for MSE on standardized signals).

``n_classes`` is the output size (32: the clean signal); input (F,) = (32,) samples.
"""

from __future__ import annotations

import math

from torch import nn


def build(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The float model for one sample of ``input_shape`` (flattened to F values) with ``n_classes`` outputs."""
    dims = (math.prod(input_shape), 16, 8, 16, n_classes)
    layers: list[nn.Module] = [nn.Flatten()] if len(input_shape) > 1 else []
    for j, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if j < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
