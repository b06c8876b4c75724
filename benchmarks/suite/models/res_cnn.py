"""Small residual CNN: stem Conv-BN-ReLU, one residual block, MaxPool, Flatten, Linear.

For (C, H, W) samples (e.g. (1, 16, 16)): stem Conv2d(C, 16, 3, pad 1)-BN-ReLU; block
``y = relu(bn2(conv2(relu(bn1(conv1(x))))) + x)`` at 16 channels (identity shortcut); MaxPool2d(2) twice
(-> (16, H/4, W/4)); Flatten; Linear -> n_classes logits.
"""

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + x)``, channels and spatial size kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))) + x)


class ResCNN(nn.Module):
    """Stem, one :class:`ResidualBlock`, two 2-poolings, linear head."""

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, width: int = 16) -> None:
        super().__init__()
        c, h, w = input_shape
        self.stem = nn.Sequential(nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.block = ResidualBlock(width)
        self.pool = nn.Sequential(nn.MaxPool2d(2), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(width * (h // 4) * (w // 4), n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.block(self.stem(x))))


def build(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The float model for one sample of ``input_shape`` (C, H, W) with ``n_classes`` outputs (logits)."""
    return ResCNN(tuple(input_shape), n_classes)
