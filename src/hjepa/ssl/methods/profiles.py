"""A second input modality for VICReg's "branches fed inputs of different nature": intensity profiles.

Bardes, Ponce & LeCun, "VICReg", ICLR 2022, Sec. 4.4 (branches without weight sharing and with
inputs of different kinds, e.g. images and text). For small digit images we need a second kind of
input that is cheap, derived from the same sample, and *not* an image: the row and column
intensity profiles. For an image ``x (C, H, W)``::

    rows[c, i] = mean_j x[c, i, j]      (H values: how much ink each row holds)
    cols[c, j] = mean_i x[c, i, j]      (W values: how much ink each column holds)
    profile    = concat_c [rows[c], cols[c]]          -> (C * (H + W),)

The profile keeps coarse shape (where the strokes are, their extent, the balance between left and
right / top and bottom) but loses the 2-D arrangement, so it is a 1-D signal of a different nature
that an MLP reads (``MLPBackbone``); 28x28 digits give 56 numbers instead of 784 pixels. The two
projections are not invertible, so the branches cannot simply learn the same function.

``ProfileEncoder`` chains the transform and the MLP so the profile branch can also be evaluated on
images, like any other backbone.

Example::

    >>> x = torch.zeros(2, 1, 4, 4)
    >>> x[:, :, 1, :] = 1.0  # one full row of ink
    >>> intensity_profiles(x)[0]
    tensor([0.0000, 1.0000, 0.0000, 0.0000, 0.2500, 0.2500, 0.2500, 0.2500])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.heads import projector


def profile_dim(channels: int, image_size: int) -> int:
    """Length ``C * (H + W)`` of the profile of a square ``image_size`` image with ``channels``."""
    if channels < 1 or image_size < 1:
        raise InputError(f"channels and image_size must be >= 1, got {channels}, {image_size}")
    return channels * 2 * image_size


def intensity_profiles(x: Tensor) -> Tensor:
    """Row and column mean intensities of every image.

    Args:
        x: images ``(B, C, H, W)``.
    Returns:
        ``(B, C * (H + W))``: per channel, the ``H`` row means then the ``W`` column means.
    """
    if x.dim() != 4:
        raise InputError(f"intensity_profiles expects images (B, C, H, W), got {tuple(x.shape)}")
    rows = x.mean(dim=3)  # (B, C, H)
    cols = x.mean(dim=2)  # (B, C, W)
    return torch.cat([rows, cols], dim=2).flatten(1)  # (B, C * (H + W))


class MLPBackbone(nn.Module):
    """Vector ``(B, in_dim)`` -> features ``(B, out_dim)``: the backbone of a non-image branch.

    Two Linear-BatchNorm-ReLU hidden layers of width ``hidden`` and a plain Linear output (the
    layout of ``hjepa.nn.heads.projector``). BatchNorm matches the convolutional backbones, so
    both branches see batch-normalised activations.

    Args:
        in_dim: input size (e.g. ``profile_dim(1, 28) = 56``).
        hidden: hidden width.
        out_dim: feature size (``self.out_dim``).
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        if in_dim < 1 or hidden < 1 or out_dim < 1:
            raise InputError(f"MLPBackbone needs in_dim, hidden, out_dim >= 1, got {in_dim}, {hidden}, {out_dim}")
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.net = projector(in_dim, (hidden, hidden, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        """x (B, in_dim) -> (B, out_dim)."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise InputError(f"MLPBackbone expects (B, {self.in_dim}), got {tuple(x.shape)}")
        return self.net(x)


class ProfileEncoder(nn.Module):
    """Images ``(B, C, H, W)`` -> ``(B, out_dim)``: ``intensity_profiles`` then a vector backbone.

    Holds (does not copy) ``backbone``, so it evaluates the trained profile branch on images.

    Args:
        backbone: maps ``(B, C * (H + W))`` to ``(B, out_dim)`` and has ``out_dim``.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.out_dim = backbone.out_dim

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> (B, out_dim)."""
        return self.backbone(intensity_profiles(x))
