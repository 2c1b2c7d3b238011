"""I-JEPA: predict the representations of masked image blocks from a context block.

Assran, Duval, Misra, Bojanowski, Vincent, Rabbat, LeCun & Ballas, "Self-Supervised Learning
from Images with a Joint-Embedding Predictive Architecture", CVPR 2023.

Inputs come from ``hjepa.ssl.masks.MaskedViews``: ``[images (B, C, H, W), context (B, N_ctx),
targets (B, M, N_tgt)]``, the index tensors on the ViT's ``grid x grid`` patch grid. Then::

    s_x = f_theta(patches of images in context)              (B, N_ctx, D)  context encoder, ViT
    s_y = LayerNorm(f_theta_bar(images))[targets]            (B, M, N_tgt, D)  EMA target, no grad
    s_y_hat = g_phi(s_x, positions of context, positions of block j)   for each block j
    loss = mean || s_y_hat - s_y ||^2                        (the paper's L2, per element)

* The context encoder is the backbone's ``forward_tokens(x, keep)``: the masked-out patches are
  dropped before the transformer, so context tokens attend only to each other.
* The target encoder (``hjepa.nn.ema.EMATarget``) sees the whole image; its output tokens are
  layer-normed once more without affine parameters (the paper's normalisation of the targets)
  before the target blocks are gathered. After every optimiser step it moves towards the
  context encoder with momentum ``cosine_momentum(step, total, 0.996, 1.0)``.
* The predictor (``MaskedTokenPredictor``) is a narrow ViT: context tokens projected to its
  width plus their position codes, and one learnt mask token plus the position code of each
  target patch; it runs once per target block (the ``M`` blocks are folded into the batch).

No augmentations: the masks alone define the task. Collapse is avoided by the predictor and the
slow EMA target (as in BYOL), not by a regulariser.

``vc_weight > 0`` (``--method ijepa-vc``) adds ``vc_weight * vc_regularizer(mean of the context
tokens)``, VICReg's variance and covariance terms on the pooled context representation (the idea
of C-JEPA, Mo & Tong 2024, which adds VICReg's regulariser to I-JEPA). Why: in a few CPU minutes
on mnist-5k, plain I-JEPA's tokens came to encode their *position* more than the image (pooled
features of effective rank 1.3), a collapse the predictor satisfies from the target positions
alone; the regulariser keeps the pooled features spread over the images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.ema import EMATarget
from hjepa.nn.vit import Block, sincos_position_embedding
from hjepa.objectives import cosine_momentum
from hjepa.objectives.vicreg import vc_regularizer
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std


def token_grid(backbone: nn.Module, method: str) -> int:
    """Patches per side of a ViT-like backbone (``forward_tokens``, ``image_size``, ``patch_size``).

    Raises:
        ValueError: the backbone cannot encode a subset of patch tokens (e.g. a ConvNet).
    """
    needed = ("forward_tokens", "image_size", "patch_size", "num_patches")
    if not all(hasattr(backbone, name) for name in needed):
        raise InputError(
            f"{method} needs a ViT backbone (--backbone vit): it encodes a subset of patch tokens; "
            f"got {type(backbone).__name__}"
        )
    return backbone.image_size // backbone.patch_size


def check_masked_views(method: str, views: list[Tensor], num_patches: int) -> tuple[Tensor, Tensor, Tensor]:
    """Validate ``[images (B, C, H, W), context (B, N_ctx), targets (B, M, N_tgt)]`` index tensors."""
    images, context, targets = views
    if images.dim() != 4:
        raise InputError(f"{method}: view 0 must be images (B, C, H, W), got {tuple(images.shape)}")
    for name, index, dims in (("context", context, 2), ("targets", targets, 3)):
        if index.dim() != dims or index.dtype not in (torch.int64, torch.int32) or index.shape[-1] < 1:
            raise InputError(
                f"{method}: {name} must be non-empty integer patch indices with {dims} dims, got "
                f"{index.dtype} {tuple(index.shape)} (make views with hjepa.ssl.masks.MaskedViews)"
            )
        if int(index.min()) < 0 or int(index.max()) >= num_patches:
            raise InputError(
                f"{method}: {name} indices must be in [0, {num_patches}) (the backbone's patch grid), "
                f"got [{int(index.min())}, {int(index.max())}]"
            )
    return images, context.long(), targets.long()


class MaskedTokenPredictor(nn.Module):
    """Narrow ViT predicting the tokens of target patches from context tokens and positions.

    Args:
        grid: patches per side of the encoder's grid (positions are indices in ``[0, grid^2)``).
        in_dim: width ``D`` of the context tokens.
        dim: predictor width (the paper's predictor is narrower than the encoder).
        depth: transformer blocks.
        heads: attention heads (must divide ``dim``; ``dim`` a multiple of 4 for the sin-cos codes).
        out_dim: width of each prediction (``D`` for I-JEPA, ``patch_size^2 * C`` for pixels).
        mlp_ratio: hidden width of the blocks' MLPs relative to ``dim``.

    ``forward(context_tokens (B, N_ctx, in_dim), context (B, N_ctx), targets (B, M, N_tgt))``
    -> ``(B, M, N_tgt, out_dim)``. Each target block is predicted in its own pass (the context is
    repeated ``M`` times), so blocks do not see each other's mask tokens.
    """

    def __init__(self, grid: int, in_dim: int, dim: int, depth: int, heads: int, out_dim: int,
                 mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if grid < 1 or in_dim < 1 or out_dim < 1 or depth < 1:
            raise InputError(f"need grid, in_dim, out_dim, depth >= 1, got {grid}, {in_dim}, {out_dim}, {depth}")
        if dim < 4 or dim % 4 != 0 or dim % heads != 0:
            raise InputError(f"predictor dim must be a multiple of 4 and of heads={heads}, got {dim}")
        self.grid = grid
        self.embed = nn.Linear(in_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", sincos_position_embedding(grid, dim), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_dim)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, context_tokens: Tensor, context: Tensor, targets: Tensor) -> Tensor:
        b, n_ctx, _ = context_tokens.shape
        _, m, n_tgt = targets.shape
        if context.shape != (b, n_ctx) or targets.shape[0] != b:
            raise InputError(
                f"context indices {tuple(context.shape)} and targets {tuple(targets.shape)} do not fit "
                f"context tokens {tuple(context_tokens.shape)}"
            )
        x = self.embed(context_tokens) + self.pos_embed[context]  # (B, N_ctx, dim)
        x = x.repeat_interleave(m, dim=0)  # (B*M, N_ctx, dim), block j of sample n at row n*M + j
        queries = self.mask_token + self.pos_embed[targets.reshape(b * m, n_tgt)]  # (B*M, N_tgt, dim)
        tokens = torch.cat([x, queries], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        out = self.head(self.norm(tokens[:, n_ctx:]))  # (B*M, N_tgt, out_dim)
        return out.view(b, m, n_tgt, -1)


def gather_tokens(tokens: Tensor, targets: Tensor) -> Tensor:
    """``tokens (B, N, D)``, ``targets (B, M, N_tgt)`` -> ``(B, M, N_tgt, D)``."""
    b, m, n_tgt = targets.shape
    index = targets.reshape(b, m * n_tgt, 1).expand(-1, -1, tokens.shape[-1])
    return tokens.gather(1, index).view(b, m, n_tgt, tokens.shape[-1])


class IJEPA(SSLMethod):
    """I-JEPA with a ViT context encoder, an EMA target encoder and a narrow ViT predictor.

    Args:
        backbone: a ``hjepa.nn.vit.ViT`` (anything with ``forward_tokens(x, keep)``,
            ``image_size``, ``patch_size``, ``num_patches`` and ``out_dim = D``).
        predictor_dim: width of the predictor (paper: 384 for a 1280-wide ViT-H).
        predictor_depth: predictor blocks (paper: 12; a few suffice at this scale).
        predictor_heads: predictor attention heads.
        base_momentum: EMA momentum at step 0 (paper: 0.996).
        final_momentum: EMA momentum at the last step (paper: 1.0).
        vc_weight: weight of the variance-covariance regulariser on the mean context token (0: the
            paper's I-JEPA; module docstring).

    ``forward([images, context, targets])`` -> ``MethodOutput`` with terms ``prediction``, ``vc``
    (unweighted, only when ``vc_weight > 0``) and ``std`` (collapse monitor of the mean-pooled target tokens); ``features`` (B, D):
    mean of the context tokens (the backbone's output on the visible patches, for the online
    probe); ``embeddings`` (B, D): mean of the predictions. ``encoders()``: the context encoder
    (the frozen evaluation reads it on whole images).
    """

    def __init__(self, backbone: nn.Module, predictor_dim: int = 64, predictor_depth: int = 3,
                 predictor_heads: int = 4, base_momentum: float = 0.996, final_momentum: float = 1.0,
                 vc_weight: float = 0.0) -> None:
        super().__init__(backbone, num_views=3)
        grid = token_grid(backbone, "I-JEPA")
        if not 0.0 <= base_momentum <= final_momentum <= 1.0:
            raise InputError(f"need 0 <= base_momentum <= final_momentum <= 1, got {base_momentum}, {final_momentum}")
        if vc_weight < 0:
            raise InputError(f"vc_weight must be >= 0, got {vc_weight}")
        self.vc_weight = vc_weight
        self.predictor = MaskedTokenPredictor(grid, backbone.out_dim, predictor_dim, predictor_depth,
                                              predictor_heads, backbone.out_dim)
        self.target = EMATarget(backbone)
        self.base_momentum = base_momentum
        self.final_momentum = final_momentum

    def forward(self, views: list[Tensor]) -> MethodOutput:
        images, context, targets = check_masked_views("I-JEPA", self.check_views(views), self.backbone.num_patches)
        context_tokens = self.backbone.forward_tokens(images, context)  # (B, N_ctx, D)
        predicted = self.predictor(context_tokens, context, targets)  # (B, M, N_tgt, D)
        with torch.no_grad():
            full = self.target.module.forward_tokens(images)  # (B, N, D)
            full = F.layer_norm(full, full.shape[-1:])
            wanted = gather_tokens(full, targets)  # (B, M, N_tgt, D)
        prediction = F.mse_loss(predicted, wanted.to(predicted.dtype))
        terms = {"prediction": prediction.detach(), "std": collapse_std(full.mean(dim=1))}
        loss = prediction
        if self.vc_weight > 0:
            vc = vc_regularizer(context_tokens.mean(dim=1))  # (B, D) pooled context
            loss = loss + self.vc_weight * vc
            terms["vc"] = vc.detach()
        features = context_tokens.detach().mean(dim=1)
        return MethodOutput(loss, terms, features, predicted.detach().mean(dim=(1, 2)))

    def momentum(self, step: int, total_steps: int) -> float:
        """EMA momentum after optimiser step ``step`` of ``total_steps`` (cosine, base -> final)."""
        return cosine_momentum(step, total_steps, self.base_momentum, self.final_momentum)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """EMA update of the target encoder towards the context encoder."""
        self.target.update(self.backbone, self.momentum(step, total_steps))

    def extra_repr(self) -> str:
        return f"base_momentum={self.base_momentum}, final_momentum={self.final_momentum}, vc_weight={self.vc_weight}"
