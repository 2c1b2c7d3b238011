"""Local features of the library's backbones: the spatial map their global vector is pooled from.

VICRegL (local matching) and the linear segmentation probe need, for an image, one feature vector
per location rather than one per image. Every backbone of ``hjepa.ssl.build`` pools such a map:

* ``SmallConvNet``: the output of ``features`` before global average pooling, ``(B, C, h, w)``
  (4 x 4 for 28 or 32 px images with three stages);
* ``ResNet``: the output of the last stage before pooling;
* ``ViT``: the patch tokens after the final norm, arranged on the patch grid.

In all three the backbone's own output is the spatial mean of this map, so one pass gives both
the global features (``feature_map(...).mean((2, 3)) == backbone(x)``) and the local ones.
"""

from __future__ import annotations

from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.resnet import ResNet
from hjepa.nn.vit import ViT


def has_feature_map(backbone: nn.Module) -> bool:
    """Whether ``feature_map`` knows how to read ``backbone``."""
    return isinstance(backbone, (SmallConvNet, ResNet, ViT))


def feature_map(backbone: nn.Module, x: Tensor) -> Tensor:
    """The pre-pooling feature map of ``backbone`` on images ``x (B, C, H, W)``: ``(B, D, h, w)``.

    Raises:
        ValueError: a backbone without a known map, or input of the wrong shape.
    """
    if isinstance(backbone, ViT):
        tokens = backbone.forward_tokens(x)  # (B, N, D), checks the input
        grid = backbone.image_size // backbone.patch_size
        return tokens.transpose(1, 2).reshape(x.shape[0], backbone.out_dim, grid, grid)
    if isinstance(backbone, (SmallConvNet, ResNet)):
        if x.dim() != 4 or x.shape[1] != backbone.in_channels:
            raise InputError(f"{type(backbone).__name__} expects (B, {backbone.in_channels}, H, W), got {tuple(x.shape)}")
        if isinstance(backbone, SmallConvNet):
            return backbone.features(x)
        return backbone.stages(backbone.stem(x))
    raise InputError(
        f"no feature map for a {type(backbone).__name__} backbone; local features need a SmallConvNet, ResNet or ViT"
    )


class FeatureMapEncoder(nn.Module):
    """``backbone`` seen as a local encoder: ``forward(x) = feature_map(backbone, x)`` ``(B, D, h, w)``."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        if not has_feature_map(backbone):
            raise InputError(f"no feature map for a {type(backbone).__name__} backbone")
        self.backbone = backbone
        self.out_dim = backbone.out_dim

    def forward(self, x: Tensor) -> Tensor:
        return feature_map(self.backbone, x)
