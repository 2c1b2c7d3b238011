"""MC-JEPA's views: two augmented views of each image for the content objective, and a frame pair
with moving digits over moving textures for the flow objective (``hjepa.data.moving_digits``).

``FlowViews(content, textures)`` maps grey digit images ``(B, 1, S, S)`` to::

    [content_a, content_b, frame1 (B, 1, S, S), frame2 (B, 1, S, S), true_flow (B, 2, S, S)]

The frames show each batch image moving over a texture drawn from ``textures`` (``(T, 1, 2S, 2S)``,
e.g. ``hjepa.data.moving_digits.grey_textures``), with random digit and background motion. The
true flow travels with the views only so that the method can *log* its end-point error during
training (like the online linear probe, it never reaches the loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from hjepa.data.moving_digits import draw_motion, render_flow_pairs
from hjepa.errors import InputError
from hjepa.ssl.views import ViewPair


@dataclass(frozen=True, eq=False)
class FlowViews:
    """Content views from ``content`` plus a rendered frame pair per image (module docstring)."""

    content: ViewPair
    """Recipes of the two content views."""
    textures: Tensor = field(repr=False)
    """Background textures ``(T, 1, 2S, 2S)`` in [0, 1]."""
    max_background_speed: float = 2.0
    """Per-axis background speed limit, pixels per frame."""
    max_digit_speed: float = 3.0
    """Per-axis digit speed limit, pixels per frame."""
    max_digit_offset: float = 3.0
    """Largest shift of the digit in frame 1 from its place in the image."""
    contrast: float = 0.7
    """Texture contrast (the digit is drawn at full brightness on top)."""

    def __post_init__(self) -> None:
        if self.textures.dim() != 4 or self.textures.shape[1] != 1 or self.textures.shape[0] < 1:
            raise InputError(f"textures must be grey (T, 1, 2S, 2S), got {tuple(self.textures.shape)}")

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        if images.dim() != 4 or images.shape[1] != 1:
            raise InputError(f"MC-JEPA's frames are made from grey digit images (B, 1, S, S), got {tuple(images.shape)}")
        b, _, s, _ = images.shape
        if self.textures.shape[-1] != 2 * s:
            raise InputError(f"textures of side {self.textures.shape[-1]} do not fit {s} px images (need {2 * s})")
        content_a, content_b = self.content(images, generator)
        rows = torch.randint(0, self.textures.shape[0], (b,), generator=generator,
                             device=generator.device if generator is not None else None).cpu()
        o, p, v_bg, v_fg = draw_motion(b, s, self.max_background_speed, self.max_digit_speed, self.max_digit_offset,
                                       generator)
        device = images.device
        pairs = render_flow_pairs(images, self.textures[rows].to(device), o.to(device), p.to(device), v_bg.to(device),
                                  v_fg.to(device), self.contrast)
        return [content_a, content_b, pairs.frames1, pairs.frames2, pairs.flow]
