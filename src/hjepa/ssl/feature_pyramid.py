"""The feature pyramid of a ``SmallConvNet``: its map at every resolution, for coarse-to-fine flow.

``SmallConvNet.features`` is a full-resolution stem followed by stages that each start with a
stride-2 convolution. ``feature_pyramid`` runs it once and keeps the output of the stem and of
every stage, finest first: for a 28 px image and the default widths ``(32, 64, 128)``, maps of
32 x 28 x 28, 32 x 14 x 14, 64 x 7 x 7 and 128 x 4 x 4. The backbone's own output is the spatial
mean of the last one, so one pass gives the pooled content features and the pyramid.
"""

from __future__ import annotations

from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.convnet import SmallConvNet


def _starts_stage(block: nn.Module) -> bool:
    conv = block[0] if isinstance(block, nn.Sequential) and len(block) > 0 else None
    return isinstance(conv, nn.Conv2d) and conv.stride == (2, 2)


def pyramid_channels(backbone: SmallConvNet) -> list[int]:
    """Channels of ``feature_pyramid``'s levels, finest first."""
    if not isinstance(backbone, SmallConvNet):
        raise InputError(f"a feature pyramid needs a SmallConvNet backbone (--backbone convnet), got {type(backbone).__name__}")
    channels, last = [], None
    for block in backbone.features:
        if _starts_stage(block) and last is not None:
            channels.append(last)
        last = block[0].out_channels
    return channels + [last]


def feature_pyramid(backbone: SmallConvNet, x: Tensor) -> list[Tensor]:
    """``x (B, C, H, W)`` -> the stem's and every stage's map, finest first (module docstring)."""
    if not isinstance(backbone, SmallConvNet):
        raise InputError(f"a feature pyramid needs a SmallConvNet backbone (--backbone convnet), got {type(backbone).__name__}")
    if x.dim() != 4 or x.shape[1] != backbone.in_channels:
        raise InputError(f"SmallConvNet expects (B, {backbone.in_channels}, H, W), got {tuple(x.shape)}")
    levels = []
    for block in backbone.features:
        if _starts_stage(block):  # the stem is stride 1, so the input itself is never kept
            levels.append(x)
        x = block(x)
    levels.append(x)
    return levels
