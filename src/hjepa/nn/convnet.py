"""A small ConvNet backbone for CIFAR/MNIST-scale images, fast enough to train on a CPU."""

from __future__ import annotations

import torch
from torch import nn

from hjepa.errors import InputError


def conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 convolution (no bias: BatchNorm follows), BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallConvNet(nn.Module):
    """Image (B, C, H, W) -> feature vector (B, widths[-1]).

    A full-resolution stem (conv3x3-BN-ReLU to ``widths[0]`` channels), then one stage per entry
    of ``widths``: a stride-2 conv3x3-BN-ReLU that halves the resolution followed by
    ``convs_per_stage - 1`` stride-1 ones, then global average pooling. Works at any input size
    (28x28 -> 14 -> 7 -> 4, 32x32 -> 16 -> 8 -> 4 with three stages). The defaults give about
    0.3M parameters and put almost all compute at <= H/2 resolution.

    Example:
        >>> net = SmallConvNet(in_channels=1)
        >>> net(torch.zeros(4, 1, 28, 28)).shape
        torch.Size([4, 128])
    """

    def __init__(
        self, in_channels: int, widths: tuple[int, ...] = (32, 64, 128), convs_per_stage: int = 2
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise InputError(f"in_channels must be >= 1, got {in_channels}")
        if not widths or min(widths) < 1:
            raise InputError(f"widths must be a non-empty tuple of positive ints, got {widths}")
        if convs_per_stage < 1:
            raise InputError(f"convs_per_stage must be >= 1, got {convs_per_stage}")
        layers: list[nn.Module] = [conv_bn_relu(in_channels, widths[0], stride=1)]
        prev = widths[0]
        for width in widths:
            layers.append(conv_bn_relu(prev, width, stride=2))
            layers.extend(conv_bn_relu(width, width, stride=1) for _ in range(convs_per_stage - 1))
            prev = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.in_channels = in_channels
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> (B, out_dim)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise InputError(f"SmallConvNet expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.pool(self.features(x)).flatten(1)  # (B, out_dim)
