"""A small Vision Transformer that can encode a subset of its patches (for I-JEPA masking)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hjepa.errors import InputError


def sincos_position_embedding(grid_size: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position codes for a ``grid_size x grid_size`` patch grid.

    A quarter of the channels each hold sin(x w), cos(x w), sin(y w), cos(y w) for frequencies
    w = 10000**(-i / (dim / 4)), with patches numbered row-major. Returns (grid_size**2, dim).
    """
    if dim % 4 != 0:
        raise InputError(f"sin-cos position codes need dim divisible by 4, got {dim}")
    quarter = dim // 4
    freqs = 10000.0 ** (-torch.arange(quarter, dtype=torch.float64) / quarter)  # (dim/4,)
    ys, xs = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    xs = xs.reshape(-1, 1).double() * freqs  # (N, dim/4)
    ys = ys.reshape(-1, 1).double() * freqs
    return torch.cat([xs.sin(), xs.cos(), ys.sin(), ys.cos()], dim=1).float()  # (N, dim)


class SelfAttention(nn.Module):
    """Multi-head self-attention, tokens (B, N, dim) -> (B, N, dim), via scaled_dot_product_attention."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads != 0:
            raise InputError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, d // self.heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, h, N, d/h)
        attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # (B, h, N, d/h)
        return self.out(attended.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x)); (B, N, dim) -> same."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """Vision Transformer without a class token: image (B, C, H, W) -> tokens or pooled vector.

    Patches are embedded by a strided convolution and get *fixed* 2-D sin-cos position codes (as in
    MAE / I-JEPA): no parameters to learn from small data, and well defined for any subset of
    patches. Patch index ``i`` is row ``i // grid``, column ``i % grid`` (row-major).

    ``forward_tokens(x, keep)`` drops the patches not in ``keep`` *before* the transformer, so the
    kept tokens attend only to each other (the I-JEPA context encoder). It therefore equals
    gathering ``keep`` from the full pass only when ``keep`` holds every patch (in any order: the
    blocks are permutation-equivariant once position codes are added); for a proper subset the
    outputs differ by design.

    Example:
        >>> vit = ViT(image_size=32, patch_size=8, in_channels=3, dim=64, depth=2, heads=4)
        >>> vit(torch.zeros(2, 3, 32, 32)).shape, vit.num_patches
        (torch.Size([2, 64]), 16)
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        in_channels: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if patch_size < 1 or image_size % patch_size != 0:
            raise InputError(f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})")
        if depth < 0 or in_channels < 1:
            raise InputError(f"need depth >= 0 and in_channels >= 1, got {depth}, {in_channels}")
        grid = image_size // patch_size
        self.image_size = image_size
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.num_patches = grid * grid
        self.out_dim = dim
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.register_buffer("pos_embed", sincos_position_embedding(grid, dim).unsqueeze(0), persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.apply(_init_weights)

    def forward_tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, H, W), keep (B, N_keep) patch indices or None (all) -> (B, N_keep, dim).

        Tokens come out in the order of ``keep``, after the final LayerNorm.
        """
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.image_size, self.image_size):
            raise InputError(
                f"ViT expects (B, {self.in_channels}, {self.image_size}, {self.image_size}),"
                f" got {tuple(x.shape)}"
            )
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed  # (B, N, dim)
        if keep is not None:
            self._check_keep(keep, x.shape[0])
            index = keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])  # (B, N_keep, dim)
            tokens = tokens.gather(1, index)  # (B, N_keep, dim)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> (B, dim): mean of all patch tokens after the final norm."""
        return self.forward_tokens(x).mean(dim=1)

    def _check_keep(self, keep: torch.Tensor, batch: int) -> None:
        if keep.dim() != 2 or keep.shape[0] != batch or keep.dtype not in (torch.int64, torch.int32):
            raise InputError(
                f"keep must be integer (B={batch}, N_keep), got {keep.dtype} {tuple(keep.shape)}"
            )
        if keep.shape[1] == 0:
            raise InputError("keep must hold at least one patch index")
        if keep.min() < 0 or keep.max() >= self.num_patches:
            raise InputError(
                f"keep indices must be in [0, {self.num_patches}), got [{keep.min()}, {keep.max()}]"
            )


def _init_weights(module: nn.Module) -> None:
    """Truncated-normal(0.02) Linear weights, zero biases; LayerNorm and the patch conv keep defaults."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
