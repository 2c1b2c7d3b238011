"""Small convolutional encoders for low-resolution observations."""

from __future__ import annotations

import torch
from torch import nn

from hjepa.errors import InputError


def conv_block(in_channels: int, out_channels: int, stride: int, groups: int,
               activation: type[nn.Module] = nn.GELU) -> nn.Sequential:
    """3x3 convolution, GroupNorm, activation (GELU by default). GroupNorm avoids the long start-up
    plateau where the variance hinge sits at its maximum (seen without normalisation)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(groups, out_channels), out_channels),
        activation(),
    )


def stride2_blocks(
    in_channels: int, input_size: int, channels: tuple[int, ...], groups: int, activation: type[nn.Module] = nn.GELU
) -> tuple[list[nn.Module], int, int]:
    """One stride-2 ``conv_block`` per entry of ``channels``; returns (blocks, output side,
    output channels)."""
    if not channels:
        raise InputError("channels must name at least one conv layer")
    blocks, size, prev = [], input_size, in_channels
    for ch in channels:
        blocks.append(conv_block(prev, ch, 2, groups, activation))
        size = (size + 2 - 3) // 2 + 1
        prev = ch
    return blocks, size, prev


class ConvEncoder(nn.Module):
    """Image (B, C, H, W) -> vector state (B, out_dim).

    A stack of 3x3 conv blocks at stride 2 (each halves the resolution) followed by a linear map of
    the flattened feature map. Flattening (rather than global pooling) keeps *where* things
    are, which is what a navigation world model needs.

    Example:
        >>> enc = ConvEncoder(in_channels=2, input_size=32, channels=(16, 32, 64), out_dim=64)
        >>> enc(torch.zeros(5, 2, 32, 32)).shape
        torch.Size([5, 64])
    """

    def __init__(
        self,
        in_channels: int,
        input_size: int,
        channels: tuple[int, ...],
        out_dim: int,
        groups: int = 8,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        blocks, size, prev = stride2_blocks(in_channels, input_size, channels, groups, activation)
        self.features = nn.Sequential(*blocks)
        self.in_channels = in_channels
        self.input_size = input_size
        self.out_dim = out_dim
        self.head = nn.Linear(prev * size * size, out_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, C, H, W) -> (B, out_dim)."""
        if obs.dim() != 4 or obs.shape[1] != self.in_channels or obs.shape[-1] != self.input_size:
            raise InputError(
                f"ConvEncoder expects (B, {self.in_channels}, {self.input_size}, {self.input_size}),"
                f" got {tuple(obs.shape)}"
            )
        return self.head(self.features(obs).flatten(1))


class SpatialConvEncoder(nn.Module):
    """Image (B, C, H, W) -> feature map (B, out_channels, h, w), returned flattened (B, D).

    Unlike ``ConvEncoder`` there is no global linear map: each cell of the state only sees a
    neighbourhood of the image, so a predictor made of convolutions can learn *local* rules
    ("the agent stops where the wall is, unless the door is there") that transfer to any layout.
    The state is returned flattened, ``D = out_channels * h * w``, so planners and probes can
    treat it as a plain vector; ``grid`` gives ``(out_channels, h, w)`` to unflatten it.

    Example:
        >>> enc = SpatialConvEncoder(in_channels=2, input_size=32, channels=(32, 32), out_channels=16)
        >>> enc(torch.zeros(5, 2, 32, 32)).shape, enc.grid
        (torch.Size([5, 1024]), (16, 8, 8))
    """

    def __init__(
        self,
        in_channels: int,
        input_size: int,
        channels: tuple[int, ...],
        out_channels: int,
        groups: int = 8,
        activation: type[nn.Module] = nn.GELU,
    ) -> None:
        super().__init__()
        blocks, size, prev = stride2_blocks(in_channels, input_size, channels, groups, activation)
        # A final 3x3 conv without normalisation: the state's scale is left to the objective.
        blocks.append(nn.Conv2d(prev, out_channels, kernel_size=3, padding=1))
        self.features = nn.Sequential(*blocks)
        self.in_channels = in_channels
        self.input_size = input_size
        self.grid = (out_channels, size, size)
        self.out_dim = out_channels * size * size

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, C, H, W) -> (B, out_channels * h * w)."""
        if obs.dim() != 4 or obs.shape[1] != self.in_channels or obs.shape[-1] != self.input_size:
            raise InputError(
                f"SpatialConvEncoder expects (B, {self.in_channels}, {self.input_size}, {self.input_size}),"
                f" got {tuple(obs.shape)}"
            )
        return self.features(obs).flatten(1)
