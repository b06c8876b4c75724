"""Keyword-spotting CNN: 2 x [Conv2d 3x3 (pad 1) - BatchNorm2d - ReLU - MaxPool2d(2)] (8, 16 channels), Linear.

For x (N, 1, 49, 10) MFCC frames: (1, 49, 10) -> (8, 24, 5) -> (16, 12, 2) -> 384 features -> n_classes logits.
"""

from __future__ import annotations

import math

from torch import nn


def build(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The float model for one sample of ``input_shape`` (C, H, W) with ``n_classes`` outputs (logits)."""
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for cout in (8, 16):
        layers += [nn.Conv2d(c, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = cout, h // 2, w // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * math.prod((h, w)), n_classes))
