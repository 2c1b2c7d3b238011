"""CIFAR-style ResNet (3x3 stem, no max-pool), the usual backbone of small-image SSL papers."""

from __future__ import annotations

import torch
from torch import nn

from hjepa.errors import InputError


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection; (B, C_in, H, W) -> (B, C_out, H/s, W/s).

    The shortcut is the identity when shape is kept, else a strided 1x1 conv + BN.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Image (B, C, H, W) -> feature vector (B, out_dim), no classifier.

    Stem: conv3x3 (stride 1) to ``width`` channels, BN, ReLU, no max-pool (small images have no
    resolution to spare). Stage i has ``blocks[i]`` BasicBlocks of ``width * 2**i`` channels; every
    stage after the first starts with stride 2. Global average pooling gives
    ``out_dim = width * 2**(len(blocks) - 1)``.
    """

    def __init__(self, in_channels: int, width: int, blocks: tuple[int, ...]) -> None:
        super().__init__()
        if in_channels < 1 or width < 1:
            raise InputError(f"in_channels and width must be >= 1, got {in_channels}, {width}")
        if not blocks or min(blocks) < 1:
            raise InputError(f"blocks must be a non-empty tuple of positive ints, got {blocks}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        prev = width
        for i, count in enumerate(blocks):
            channels = width * 2**i
            for j in range(count):
                stages.append(BasicBlock(prev, channels, stride=2 if (i > 0 and j == 0) else 1))
                prev = channels
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.in_channels = in_channels
        self.out_dim = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> (B, out_dim)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise InputError(f"ResNet expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.pool(self.stages(self.stem(x))).flatten(1)  # (B, out_dim)


def resnet18(in_channels: int = 3, width: int = 64) -> ResNet:
    """CIFAR ResNet-18: 4 stages of 2 BasicBlocks, ``out_dim = 8 * width``.

    ``width=64`` is the standard model (about 11.17M parameters without a classifier); smaller
    widths (e.g. 16 or 32) keep the architecture for quick CPU runs (parameters scale ~ width**2).
    """
    return ResNet(in_channels, width, blocks=(2, 2, 2, 2))
