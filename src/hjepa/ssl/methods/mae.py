"""Pixel prediction with I-JEPA's masks: the MAE-style counterpart of I-JEPA.

He, Chen, Xie, Li, Dollar & Girshick, "Masked Autoencoders Are Scalable Vision Learners",
CVPR 2022 (pixel targets, per-patch normalisation); Assran et al., I-JEPA, CVPR 2023 (the masks,
and the ablation "predicting pixels instead of representations" this method reproduces).

Everything is I-JEPA's (``hjepa.ssl.methods.ijepa``) except the target: the same ViT context
encoder on the same multi-block masks, the same narrow predictor with mask tokens and target
positions, but it predicts the *pixels* of each target patch instead of the target encoder's
representation, so there is no EMA target network::

    s_x = f_theta(patches of images in context)              (B, N_ctx, D)
    y   = patchify(images)[targets]                          (B, M, N_tgt, p * p * C)
    y   = (y - mean(y)) / sqrt(var(y) + 1e-6)  per patch     (normalize_targets, MAE's best)
    loss = mean || g_phi(s_x, positions) - y ||^2

It differs from the original MAE in the masks (MAE drops 75% of random patches and its decoder
sees every position at once) and is meant as the controlled comparison of the I-JEPA paper: same
encoder, masks, predictor and budget, only the prediction space changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std
from hjepa.ssl.methods.ijepa import MaskedTokenPredictor, check_masked_views, gather_tokens, token_grid


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """``images (B, C, H, W) -> (B, N, p * p * C)`` patches in the ViT's row-major order.

    Each row holds one patch's pixels ordered (row, column, channel).
    """
    b, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise InputError(f"image sides {h}x{w} must be multiples of the patch size {p}")
    x = images.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


class MaskedPixelPrediction(SSLMethod):
    """Predict the (normalised) pixels of I-JEPA's target blocks from its context block.

    Args:
        backbone: a ``hjepa.nn.vit.ViT`` (as for ``IJEPA``).
        predictor_dim, predictor_depth, predictor_heads: the predictor's size (as for ``IJEPA``).
        normalize_targets: normalise each target patch to zero mean and unit variance (MAE's
            better variant); ``False`` regresses raw pixels in ``[0, 1]``.

    ``forward([images, context, targets])`` -> ``MethodOutput`` with terms ``reconstruction``
    and ``std`` (of the pooled context tokens); ``features`` and ``embeddings``: the mean of the
    context tokens (B, D) (the method has no embedding space besides pixels).
    """

    def __init__(self, backbone: nn.Module, predictor_dim: int = 64, predictor_depth: int = 3,
                 predictor_heads: int = 4, normalize_targets: bool = True) -> None:
        super().__init__(backbone, num_views=3)
        grid = token_grid(backbone, "pixel prediction")
        self.patch_size = backbone.patch_size
        pixels = self.patch_size**2 * backbone.in_channels
        self.predictor = MaskedTokenPredictor(grid, backbone.out_dim, predictor_dim, predictor_depth,
                                              predictor_heads, pixels)
        self.normalize_targets = normalize_targets

    def forward(self, views: list[Tensor]) -> MethodOutput:
        images, context, targets = check_masked_views(
            "pixel prediction", self.check_views(views), self.backbone.num_patches)
        context_tokens = self.backbone.forward_tokens(images, context)  # (B, N_ctx, D)
        predicted = self.predictor(context_tokens, context, targets)  # (B, M, N_tgt, p*p*C)
        with torch.no_grad():
            wanted = gather_tokens(patchify(images, self.patch_size), targets)
            if self.normalize_targets:
                mean = wanted.mean(dim=-1, keepdim=True)
                var = wanted.var(dim=-1, keepdim=True, unbiased=False)
                wanted = (wanted - mean) / torch.sqrt(var + 1e-6)
        loss = F.mse_loss(predicted, wanted.to(predicted.dtype))
        pooled = context_tokens.detach().mean(dim=1)
        return MethodOutput(loss, {"reconstruction": loss.detach(), "std": collapse_std(pooled)}, pooled, pooled)

    def extra_repr(self) -> str:
        return f"patch_size={self.patch_size}, normalize_targets={self.normalize_targets}"
