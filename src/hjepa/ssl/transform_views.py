"""Views related by a known transformation, and its parameters: SIE's input.

``TransformViews`` turns a batch of RGB images into two views, each the image rotated by a random
angle and hue-shifted by a random amount, and the parameters of the transformation that takes
view a to view b::

    view_a = shift_hue(rotate(x, angle_a), hue_a)
    view_b = shift_hue(rotate(x, angle_b), hue_b)  ~=  T(d_angle, d_hue) view_a
    params = (cos d, sin d, cos 2d, sin 2d, cos 2 pi d_hue, sin 2 pi d_hue)     (B, 6), d = d_angle

Rotations about the centre compose by adding angles and hue shifts add on the colour circle (and
the two commute), so the relative parameters alone describe how view b follows from view a; the
identity transformation is ``IDENTITY_PARAMS = (1, 0, 1, 0, 1, 0)``. The same views without the
parameters train the VICReg baseline (``"sie-vicreg"``), which must become invariant to both.

Why the angle at two frequencies: SIE's predictor is linear in the parameters, so a feature it can
turn with the rotation must change like ``cos`` / ``sin`` of a frequency the parameters hold. A
ConvNet's pooled responses to strokes are *axial*: a stroke turned by 180 degrees is the same
stroke, so they change like ``cos 2d`` / ``sin 2d``. With ``(cos d, sin d)`` alone (this module's
first version) the equivariant part took only the hue, and rotation-only retrieval through SIE's
predictor stayed at chance (0.144 of 8); with both frequencies and views rotated up to 90 degrees
it reached 0.83 (``benchmarks/results/sie_mcjepa_targets.md``).

Example::

    >>> views = TransformViews()(torch.rand(4, 3, 32, 32), torch.Generator().manual_seed(0))
    >>> [tuple(v.shape) for v in views]
    [(4, 3, 32, 32), (4, 3, 32, 32), (4, 6)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from hjepa.data.transformed_objects import rotate_images
from hjepa.errors import InputError
from hjepa.ssl.augment import shift_hue

IDENTITY_PARAMS = (1.0, 0.0, 1.0, 0.0, 1.0, 0.0)
"""``transform_params`` of no rotation and no hue change."""
PARAM_DIM = 6
ROTATION_COLUMNS, HUE_COLUMNS = slice(0, 4), slice(4, 6)
"""Columns of ``transform_params`` that encode the rotation and the hue shift."""


def transform_params(angles: Tensor, hue_shifts: Tensor) -> Tensor:
    """Circle encoding of rotations ``angles (B,)`` (radians), at frequencies 1 and 2, and of hue
    shifts ``(B,)`` (turns): ``(B, 6)`` (module docstring)."""
    turn = 2 * math.pi * hue_shifts
    return torch.stack([torch.cos(angles), torch.sin(angles), torch.cos(2 * angles), torch.sin(2 * angles),
                        torch.cos(turn), torch.sin(turn)], dim=1)


def apply_transform(x: Tensor, angles: Tensor, hue_shifts: Tensor) -> Tensor:
    """``shift_hue(rotate_images(x, angles), hue_shifts)``: x (B, 3, S, S) -> (B, 3, S, S)."""
    return shift_hue(rotate_images(x, angles).clamp(0, 1), hue_shifts)


@dataclass(frozen=True)
class TransformViews:
    """``images (B, 3, S, S) -> [view_a, view_b, params (B, 4)]`` (module docstring).

    Each view's angle is uniform in ``[-max_angle, max_angle]`` and its hue shift uniform in
    ``[-max_hue_shift, max_hue_shift]`` turns, independently per view and image.
    """

    max_angle: float = math.pi / 2
    """Largest rotation of one view, radians (relative rotations reach twice that). 90 degrees: with 45
    (the first default) the invariant part kept as much of the rotation as the equivariant one."""
    max_hue_shift: float = 0.5
    """Largest hue shift of one view, turns (0.5: the whole colour circle)."""
    with_params: bool = True
    """False: return only the two views (the VICReg baseline on the same pairs)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_angle <= math.pi:
            raise InputError(f"max_angle must be in [0, pi], got {self.max_angle}")
        if not 0.0 <= self.max_hue_shift <= 0.5:
            raise InputError(f"max_hue_shift must be in [0, 0.5] turns, got {self.max_hue_shift}")

    def draw(self, count: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Random ``(angles, hue_shifts)``, each ``(count,)``."""
        u = torch.rand(2, count, generator=generator, device=generator.device if generator is not None else None)
        return (2 * u[0] - 1) * self.max_angle, (2 * u[1] - 1) * self.max_hue_shift

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        if images.dim() != 4 or images.shape[1] != 3:
            raise InputError(
                f"SIE's views rotate and recolour RGB images (B, 3, S, S), got {tuple(images.shape)}; "
                "use --dataset rotated-digits (or another RGB dataset)"
            )
        n = images.shape[0]
        angle_a, hue_a = (v.to(images.device) for v in self.draw(n, generator))
        angle_b, hue_b = (v.to(images.device) for v in self.draw(n, generator))
        view_a = apply_transform(images, angle_a, hue_a)
        view_b = apply_transform(images, angle_b, hue_b)
        if not self.with_params:
            return [view_a, view_b]
        return [view_a, view_b, transform_params(angle_b - angle_a, hue_b - hue_a).to(images.dtype)]
