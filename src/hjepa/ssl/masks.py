"""I-JEPA's multi-block masks, drawn on the data side, and the view maker that attaches them.

Assran et al., "Self-Supervised Learning from Images with a Joint-Embedding Predictive
Architecture" (I-JEPA), CVPR 2023, Sec. 3 ("Targets", "Context").

Masks live on the ``grid x grid`` patch grid of a ViT (patch ``i`` is row ``i // grid``,
column ``i % grid``, as in ``hjepa.nn.vit.ViT``). For a batch of ``B`` images:

* ``num_targets`` (paper: 4) target blocks per image, each a rectangle of area fraction
  ``~ U(target_scale)`` (paper: 0.15-0.2) and aspect ratio ``h / w ~ U(target_ratio)`` (paper:
  0.75-1.5); the blocks of one image may overlap each other.
* one context block of area fraction ``~ U(context_scale)`` (paper: 0.85-1.0) and aspect ratio
  ``~ U(context_ratio)`` (paper: 1), from which every target patch is removed
  (``remove_targets=True``), so the context never shows what it must predict.

As in the paper, block *sizes* are drawn once per batch and *positions* once per image: every
target block of a batch then holds the same number of patches, and the batch packs into
rectangular index tensors. The context of each image keeps a different number of patches after
the targets are removed; all images keep ``min`` over the batch of those counts, a uniformly random
subset of their context patches (the paper truncates instead). An image whose context would keep
fewer than ``min_context`` patches gets its target positions redrawn (at most ``max_tries`` times).

Randomness comes only from the explicit ``torch.Generator``; masks are made on the CPU.

Example::

    >>> masks = MultiBlockMasks(grid=7)
    >>> m = masks(8, torch.Generator().manual_seed(0))
    >>> m.targets.shape[:2], m.context.shape[0]
    (torch.Size([8, 4]), 8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from hjepa.errors import InputError


class BlockMasks(NamedTuple):
    """Patch indices of one batch of multi-block masks (``int64``, sorted within each row / block)."""

    context: Tensor
    """``(B, N_ctx)`` patches the context encoder sees."""
    targets: Tensor
    """``(B, M, N_tgt)`` patches of each of the ``M`` target blocks."""


def _check_bounds(bounds: tuple[float, float], name: str, upper: float) -> None:
    low, high = bounds
    if not (0.0 < low <= high <= upper) or not math.isfinite(high):
        raise InputError(f"{name} must satisfy 0 < low <= high <= {upper}, got {bounds}")


def block_size(grid: int, scale: float, ratio: float) -> tuple[int, int]:
    """``(h, w)`` of a block covering about ``scale`` of a ``grid x grid`` grid with ``h / w = ratio``.

    ``h = round(sqrt(scale * grid^2 * ratio))``, ``w = round(sqrt(scale * grid^2 / ratio))``, each
    clipped to ``[1, grid]``.
    """
    area = scale * grid * grid
    h = int(round(math.sqrt(area * ratio)))
    w = int(round(math.sqrt(area / ratio)))
    return min(max(h, 1), grid), min(max(w, 1), grid)


def _blocks(batch: int, count: int, grid: int, h: int, w: int, generator: torch.Generator) -> Tensor:
    """``count`` randomly placed ``h x w`` blocks per image: bool ``(batch, count, grid, grid)``."""
    top = torch.randint(0, grid - h + 1, (batch, count, 1, 1), generator=generator)
    left = torch.randint(0, grid - w + 1, (batch, count, 1, 1), generator=generator)
    index = torch.arange(grid)
    rows = (index.view(1, 1, grid, 1) >= top) & (index.view(1, 1, grid, 1) < top + h)
    cols = (index.view(1, 1, 1, grid) >= left) & (index.view(1, 1, 1, grid) < left + w)
    return rows & cols


@dataclass(frozen=True)
class MultiBlockMasks:
    """Draws ``BlockMasks`` for batches of images on a ``grid x grid`` patch grid.

    Args:
        grid: patches per side of the ViT (e.g. 7 for 28 px images with 4 px patches).
        num_targets: target blocks per image (paper: 4).
        target_scale: range of a target block's area as a fraction of the grid (paper: 0.15-0.2).
        target_ratio: range of a target block's aspect ratio ``h / w`` (paper: 0.75-1.5).
        context_scale: range of the context block's area fraction (paper: 0.85-1.0).
        context_ratio: range of the context block's aspect ratio (paper: 1.0-1.0).
        remove_targets: remove the target patches from the context (the paper; ``False`` lets
            the context overlap the targets, an ablation).
        min_context: fewest context patches an image may keep (paper: 4).
        max_tries: redraws of an image's target positions before giving up with a ValueError.
    """

    grid: int
    num_targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    target_ratio: tuple[float, float] = (0.75, 1.5)
    context_scale: tuple[float, float] = (0.85, 1.0)
    context_ratio: tuple[float, float] = (1.0, 1.0)
    remove_targets: bool = True
    min_context: int = 4
    max_tries: int = 50

    def __post_init__(self) -> None:
        if self.grid < 2:
            raise InputError(f"grid must be >= 2 patches per side, got {self.grid}")
        if self.num_targets < 1:
            raise InputError(f"num_targets must be >= 1, got {self.num_targets}")
        _check_bounds(self.target_scale, "target_scale", 1.0)
        _check_bounds(self.context_scale, "context_scale", 1.0)
        _check_bounds(self.target_ratio, "target_ratio", math.inf)
        _check_bounds(self.context_ratio, "context_ratio", math.inf)
        if not 1 <= self.min_context <= self.grid * self.grid:
            raise InputError(f"min_context must be in [1, {self.grid * self.grid}], got {self.min_context}")
        if self.max_tries < 1:
            raise InputError(f"max_tries must be >= 1, got {self.max_tries}")

    @property
    def num_patches(self) -> int:
        return self.grid * self.grid

    def _size(self, scale: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator
              ) -> tuple[int, int]:
        """One block size per batch: scale and aspect ratio uniform in their ranges."""
        u = torch.rand(2, generator=generator, dtype=torch.float64)
        s = scale[0] + (scale[1] - scale[0]) * float(u[0])
        r = ratio[0] + (ratio[1] - ratio[0]) * float(u[1])
        return block_size(self.grid, s, r)

    def __call__(self, batch: int, generator: torch.Generator) -> BlockMasks:
        """Masks for ``batch`` images: ``BlockMasks(context (B, N_ctx), targets (B, M, h * w))``.

        Raises:
            ValueError: ``batch < 1``, or some image kept fewer than ``min_context`` context
                patches after ``max_tries`` redraws of its targets (scales too large for the grid).
        """
        if batch < 1:
            raise InputError(f"batch must be >= 1, got {batch}")
        g, m = self.grid, self.num_targets
        th, tw = self._size(self.target_scale, self.target_ratio, generator)
        ch, cw = self._size(self.context_scale, self.context_ratio, generator)
        targets = _blocks(batch, m, g, th, tw, generator)  # (B, M, g, g)
        context = _blocks(batch, 1, g, ch, cw, generator)[:, 0]  # (B, g, g)
        if self.remove_targets:
            for _ in range(self.max_tries):
                kept = (context & ~targets.any(dim=1)).flatten(1).sum(dim=1)  # (B,)
                short = kept < self.min_context
                if not bool(short.any()):
                    break
                targets[short] = _blocks(int(short.sum()), m, g, th, tw, generator)
            else:
                raise InputError(
                    f"could not keep {self.min_context} context patches on a {g}x{g} grid with {m} targets "
                    f"of {th}x{tw} after {self.max_tries} tries; lower target_scale or num_targets"
                )
            context = context & ~targets.any(dim=1)
        flat = context.flatten(1)  # (B, g*g)
        keep = int(flat.sum(dim=1).min())
        # A uniformly random subset of `keep` context patches per image, then sorted.
        priority = torch.rand(flat.shape, generator=generator).masked_fill(~flat, 2.0)
        chosen = priority.topk(keep, dim=1, largest=False).indices.sort(dim=1).values
        target_index = targets.flatten(2).nonzero()[:, 2].view(batch, m, th * tw)  # row-major order
        return BlockMasks(context=chosen, targets=target_index)


@dataclass(frozen=True)
class MaskedViews:
    """I-JEPA's view maker: ``images (B, C, H, W) -> [images, context (B, N_ctx), targets (B, M, N_tgt)]``.

    No augmentation at all (the paper's point: the masks, not hand-made views, define the task).
    The index tensors travel with the images through the trainer, which slices every entry of
    the list by rows.
    """

    masks: MultiBlockMasks

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        if not isinstance(images, Tensor) or images.dim() != 4:
            raise InputError(f"MaskedViews expects images (B, C, H, W), got {getattr(images, 'shape', images)}")
        if generator is None:
            generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
        made = self.masks(images.shape[0], generator)
        return [images, made.context.to(images.device), made.targets.to(images.device)]
