"""ImageNet ResNet-18 / ResNet-50 (He et al. 2016), shaped as torchvision's ``resnet18`` / ``resnet50``.

Same module names and shapes as torchvision (``conv1``, ``bn1``, ``layer1..4``, ``fc``; blocks ``conv1..3``,
``bn1..3``), except that the projection shortcut is called ``shortcut`` (torchvision: ``downsample``) so that the
default CSQ policy keeps the 1x1 shortcut convolutions in full precision, as for ResNet-20 and as the CSQ reference
does. ResNet-50 uses the v1.5 bottleneck (stride on the 3x3 convolution). torchvision state dicts load after renaming
``downsample`` to ``shortcut`` (:func:`from_torchvision_state_dict`).
"""

from __future__ import annotations

import torch
from torch import nn

from csq_hw.zoo.resnet import BasicBlock, kaiming_init_convs, projection_shortcut

__all__ = ["Bottleneck", "ResNetImageNet", "from_torchvision_state_dict", "resnet18", "resnet50"]


class Bottleneck(nn.Module):
    """1x1 (width) - 3x3 (width, stride) - 1x1 (4 x width), BN after each, + shortcut, ReLU. (N, C, H, W)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu3 = nn.ReLU()
        self.shortcut = projection_shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(out + self.shortcut(x))


class ResNetImageNet(nn.Module):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), four stages (``width`` x 1, 2, 4, 8 channels, strides 1, 2, 2,
    2), global average pool, FC. Input (N, 3, H, W) (224 x 224 for ImageNet); output (N, n_classes) logits."""

    def __init__(self, block: str, layers: tuple[int, int, int, int], n_classes: int = 1000, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = width
        stages = []
        for j, n in enumerate(layers):
            planes = width * 2**j
            blocks: list[nn.Module] = []
            for b in range(n):
                stride = 2 if (j > 0 and b == 0) else 1
                if block == "basic":
                    blocks.append(BasicBlock(cin, planes, stride))
                    cin = planes
                else:
                    blocks.append(Bottleneck(cin, planes, stride))
                    cin = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(cin, n_classes)
        kaiming_init_convs(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


def resnet18(n_classes: int = 1000, width: int = 64, **_: object) -> ResNetImageNet:
    """ResNet-18: 11,689,512 parameters at ``width=64``, 1000 classes (as torchvision); 11,506,880 weights in the
    7x7/3x3 convolutions and FC (CSQ layers) and 172,032 in 1x1 shortcuts (full precision by default). ``width``
    scales every stage (smaller variants for tests); other keywords (``image_size``, ``quantize_shortcuts``) are
    read by the model registry."""
    return ResNetImageNet("basic", (2, 2, 2, 2), n_classes=n_classes, width=width)


def resnet50(n_classes: int = 1000, width: int = 64, **_: object) -> ResNetImageNet:
    """ResNet-50 (v1.5): 25,557,032 parameters at ``width=64``, 1000 classes (as torchvision); 22,734,016 weights in
    convolutions and FC, 2,768,896 in the 1x1 shortcut convolutions (full precision by default)."""
    return ResNetImageNet("bottleneck", (3, 4, 6, 3), n_classes=n_classes, width=width)


def from_torchvision_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torchvision ``resnet18``/``resnet50`` state dict with ``downsample`` renamed to ``shortcut``."""
    return {k.replace(".downsample.", ".shortcut."): v for k, v in state.items()}
