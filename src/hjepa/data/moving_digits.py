"""Two-frame video of digits moving over moving textures, with the exact optical flow (MC-JEPA's data).

Each pair is rendered from one grey digit (its grey levels are the opacity ``alpha``) and one
grey photo texture (a ``2 S`` px crop of a scikit-image photograph, at reduced contrast). In
frame 1 the texture is shown at offset ``o`` and the digit's tile (the digit at its own
resolution, side ``S``) at offset ``p``; in frame 2 the texture has moved by ``v_bg`` and the
digit by ``v_fg`` (pixels, ``(dx, dy)``, ``dx`` to the right, ``dy`` down)::

    background_1(x) = contrast * texture(x + o)        background_2(x) = background_1(x - v_bg)
    alpha_1(x)      = digit(x - p)                     alpha_2(x)      = alpha_1(x - v_fg)
    frame_k         = alpha_k * 1 + (1 - alpha_k) * background_k

The optical flow of frame 1 (where each of its pixels is found in frame 2) is therefore
``v_fg`` on the digit (``alpha_1 >= 0.5``) and ``v_bg`` elsewhere; ``mask`` marks the digit. With
integer offsets and velocities every pixel that is fully background or fully digit, and not
covered in frame 2, satisfies ``frame_2(x + flow(x)) == frame_1(x)`` exactly (tests check it);
sub-pixel motion is rendered by bilinear resampling of the sources. Nothing is downloaded; the
same generator seed gives the same video.

Example::

    >>> from hjepa.data.builtin_images import digits as sk_digits
    >>> pairs = moving_digits(sk_digits(16).float_images()[:6], generator=torch.Generator().manual_seed(0))
    >>> pairs.frames1.shape, pairs.flow.shape
    (torch.Size([6, 1, 16, 16]), torch.Size([6, 2, 16, 16]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hjepa.data.builtin_images import photo_patches
from hjepa.errors import InputError

TEXTURE_PHOTOS = ("grass", "gravel", "brick", "chelsea", "immunohistochemistry", "astronaut", "coffee")
"""Photographs of the backgrounds: the bundled ones with texture nearly everywhere, so that the
background's motion can be seen (on flat regions no method, learned or classical, can see it)."""


@dataclass
class FlowPairs:
    """Frame pairs with their ground-truth flow.

    Attributes:
        frames1, frames2: ``float32 (N, 1, S, S)`` in ``[0, 1]``.
        flow: ``float32 (N, 2, S, S)``, ``(dx, dy)`` in pixels: pixel ``x`` of frame 1 is at
            ``x + flow(x)`` in frame 2.
        mask: ``bool (N, S, S)``, the digit's pixels in frame 1.
        labels: ``int64 (N,)`` the digit classes (``-1`` when unknown).
    """

    frames1: Tensor
    frames2: Tensor
    flow: Tensor
    mask: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        n, c, h, w = self.frames1.shape
        if c != 1 or self.frames2.shape != self.frames1.shape or self.flow.shape != (n, 2, h, w):
            raise InputError(f"frames must be (N, 1, S, S) with flow (N, 2, S, S), got {tuple(self.frames1.shape)}, "
                             f"{tuple(self.frames2.shape)}, {tuple(self.flow.shape)}")
        if self.mask.shape != (n, h, w) or self.labels.shape != (n,):
            raise InputError(f"mask must be (N, S, S) and labels (N,), got {tuple(self.mask.shape)}, {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.frames1.shape[0])


def translate(source: Tensor, offsets: Tensor, size: int) -> Tensor:
    """A ``size x size`` window of each source image, read at a per-image offset.

    ``out[n, :, i, j] = source[n, :, i + offsets[n, 1], j + offsets[n, 0]]`` (bilinear between
    pixels, zeros outside the source): ``source (N, C, H, W)``, ``offsets (N, 2)`` pixels ``(dx, dy)``
    -> ``(N, C, size, size)``. Integer offsets copy pixels exactly.
    """
    n, _, h, w = source.shape
    if offsets.shape != (n, 2):
        raise InputError(f"offsets must be (N, 2) = ({n}, 2), got {tuple(offsets.shape)}")
    pixels = torch.arange(size, dtype=source.dtype, device=source.device) + 0.5  # output pixel centres
    x = pixels.view(1, 1, size) + offsets[:, 0].view(n, 1, 1).to(source.dtype)  # (N, 1, size)
    y = pixels.view(1, size, 1) + offsets[:, 1].view(n, 1, 1).to(source.dtype)  # (N, size, 1)
    grid = torch.stack([(2 * x / w - 1).expand(n, size, size), (2 * y / h - 1).expand(n, size, size)], dim=-1)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def render_flow_pairs(digits: Tensor, textures: Tensor, texture_offsets: Tensor, digit_offsets: Tensor,
                      background_velocity: Tensor, digit_velocity: Tensor, contrast: float = 0.7,
                      labels: Tensor | None = None) -> FlowPairs:
    """Render the pairs of the module docstring.

    Args:
        digits: ``(N, 1, S, S)`` opacities in ``[0, 1]``; ``S`` is the frame side.
        textures: ``(N, 1, T, T)`` grey textures in ``[0, 1]``, ``T >= S``.
        texture_offsets: ``(N, 2)`` ``o``, where frame 1's window starts in the texture (pixels).
        digit_offsets: ``(N, 2)`` ``p``, where the digit's tile starts in frame 1 (pixels).
        background_velocity, digit_velocity: ``(N, 2)`` ``v_bg``, ``v_fg`` in pixels.
        contrast: texture scale (the digit, at 1, stays brighter than any background pixel).
        labels: ``(N,)`` digit classes, or ``None`` (all ``-1``).
    """
    n, c, s, s2 = digits.shape
    if c != 1 or s != s2 or textures.dim() != 4 or textures.shape[:2] != (n, 1) or textures.shape[-1] < s:
        raise InputError(f"digits must be (N, 1, S, S) and textures (N, 1, T, T) with T >= S, got "
                         f"{tuple(digits.shape)} and {tuple(textures.shape)}")
    for name, value in (("texture_offsets", texture_offsets), ("digit_offsets", digit_offsets),
                        ("background_velocity", background_velocity), ("digit_velocity", digit_velocity)):
        if value.shape != (n, 2) or not torch.isfinite(value).all():
            raise InputError(f"{name} must be finite (N, 2) = ({n}, 2), got {tuple(value.shape)}")
    if not 0.0 < contrast < 1.0:
        raise InputError(f"contrast must be in (0, 1) so the digit stays visible, got {contrast}")
    background1 = contrast * translate(textures, texture_offsets, s)
    background2 = contrast * translate(textures, texture_offsets - background_velocity, s)
    alpha1 = translate(digits, -digit_offsets, s).clamp(0, 1)
    alpha2 = translate(digits, -(digit_offsets + digit_velocity), s).clamp(0, 1)
    frames1 = alpha1 + (1 - alpha1) * background1
    frames2 = alpha2 + (1 - alpha2) * background2
    mask = alpha1[:, 0] >= 0.5
    flow = torch.where(mask.unsqueeze(1), digit_velocity.view(n, 2, 1, 1), background_velocity.view(n, 2, 1, 1))
    labels = torch.full((n,), -1, dtype=torch.int64) if labels is None else labels.to(torch.int64)
    return FlowPairs(frames1.clamp(0, 1), frames2.clamp(0, 1), flow.float(), mask, labels)


def grey_textures(count: int, size: int, generator: torch.Generator, photos: Sequence[str] = TEXTURE_PHOTOS) -> Tensor:
    """``count`` grey textures ``(count, 1, size, size)``, shuffled: ``2 * size`` px crops of the
    photographs halved by a 2 x 2 box filter (more detail per pixel than a plain crop)."""
    per_photo = math.ceil(count / len(photos))
    crops = photo_patches(size=2 * size, per_image=per_photo, generator=generator, photos=photos, channels=1)
    order = torch.randperm(len(crops), generator=generator)[:count]
    return F.avg_pool2d(crops.float_images(order), 2)


def draw_motion(count: int, size: int, max_background_speed: float, max_digit_speed: float, max_digit_offset: float,
                generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random ``(texture_offsets, digit_offsets, v_bg, v_fg)``, each ``(count, 2)``, for textures of
    side ``2 * size``: velocities uniform in ``[-max, max]`` per axis, digit offsets uniform in
    ``[-max_digit_offset, max_digit_offset]``, texture windows uniform where both frames fit."""
    u = torch.rand(4, count, 2, generator=generator)
    v_bg = (2 * u[0] - 1) * max_background_speed
    v_fg = (2 * u[1] - 1) * max_digit_speed
    p = (2 * u[2] - 1) * max_digit_offset
    margin = max_background_speed
    o = margin + u[3] * (size - 2 * margin)  # textures are 2 * size wide: o and o - v_bg stay inside
    return o, p, v_bg, v_fg


def moving_digits(digits: Tensor, labels: Tensor | None = None, max_background_speed: float = 2.0,
                  max_digit_speed: float = 3.0, max_digit_offset: float = 3.0, contrast: float = 0.7,
                  generator: torch.Generator | None = None, photos: Sequence[str] = TEXTURE_PHOTOS) -> FlowPairs:
    """One moving pair per digit, over its own texture (module docstring).

    Args:
        digits: ``(N, 1, S, S)`` grey digits in ``[0, 1]`` (e.g. ``mnist_5k().float_images()``).
        labels: their classes (stored with the pairs), or ``None``.
        max_background_speed, max_digit_speed: per-axis speed limits in pixels per frame.
        max_digit_offset: largest shift of the digit's tile in frame 1 from the centred position.
        contrast: texture contrast.
        generator: textures and motion; ``None`` uses a generator seeded with 0.
        photos: the textures' photographs.
    """
    if digits.dim() != 4 or digits.shape[1] != 1 or digits.shape[-1] != digits.shape[-2] or digits.shape[0] < 1:
        raise InputError(f"digits must be grey square images (N, 1, S, S), got {tuple(digits.shape)}")
    if min(max_background_speed, max_digit_speed, max_digit_offset) < 0:
        raise InputError("speeds and offsets must be >= 0")
    size = digits.shape[-1]
    if max_background_speed >= size / 2:
        raise InputError(f"max_background_speed must be < size / 2 = {size / 2}, got {max_background_speed}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    textures = grey_textures(digits.shape[0], 2 * size, generator, photos)
    o, p, v_bg, v_fg = draw_motion(digits.shape[0], size, max_background_speed, max_digit_speed, max_digit_offset,
                                   generator)
    return render_flow_pairs(digits.float(), textures, o, p, v_bg, v_fg, contrast, labels)
