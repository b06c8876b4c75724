"""CIFAR ResNet-20 (He et al. 2016) with option-B (1x1 conv + BN) shortcuts, as in the CSQ reference code.

Shortcut convolutions are named ``...shortcut.0`` so the default CSQ policy keeps them in full precision.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNetCifar", "kaiming_init_convs", "projection_shortcut", "resnet20"]


def kaiming_init_convs(model: nn.Module) -> None:
    """He-normal (fan_out, ReLU) initialisation of every Conv2d weight in ``model``, as torchvision's ResNets."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def projection_shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    """Identity, or option B (1x1 conv + BN, named ``shortcut.0``/``.1``) where the shape changes."""
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU. Input/output (N, C, H, W)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.shortcut = projection_shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """Stem conv 3->16, three stages of ``n`` blocks (16, 32, 64 channels), global average pool, FC."""

    def __init__(self, n: int = 3, n_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        stages = []
        cin = width
        for j, cout in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, cout, stride=2 if (j > 0 and b == 0) else 1))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(cin, n_classes)
        kaiming_init_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x)))


def resnet20(n_classes: int = 10, n: int = 3, width: int = 16, **_: object) -> ResNetCifar:
    """ResNet-20: 19 3x3 convs + FC = 20 layers; 268,336 quantizable weights + 2,560 in 1x1 shortcuts.

    ``n`` (blocks per stage) and ``width`` (first stage's channels) give smaller variants of the same blocks (e.g.
    for tests); other keywords (``quantize_shortcuts``, read by :func:`csq_hw.zoo.models.full_precision_for`) are
    ignored here.
    """
    return ResNetCifar(n=n, n_classes=n_classes, width=width)
