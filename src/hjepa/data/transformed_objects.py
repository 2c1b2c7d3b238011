"""Objects rendered under known transformations: coloured, rotated MNIST digits (SIE's data).

SIE (Garrido, Najman & LeCun, ICML 2023) needs images whose transformation parameters are known:
its paper renders 3D models under known rotations and colours (3DIEBench). The offline,
CPU-sized stand-in here renders each digit of ``mnist_5k`` once, on a black ``size x size``
canvas, rotated by a known angle and painted in a fully saturated colour of known hue::

    image = rotate(alpha, angle) * rgb(hue, saturation=1, value=1)

with ``alpha`` the digit's grey levels in ``[0, 1]``. So every pixel of the digit has exactly
the recorded hue, and a hue shift of the image by ``d`` (``hjepa.ssl.augment.shift_hue``) gives the
rendering with hue ``hue + d``; a rotation of the image by ``a`` (``rotate_images``) gives, up to
interpolation, the rendering at ``angle + a`` (the canvas is large enough that no rotation cuts
the digit: 28 px digits on a 32 px canvas). Angles are radians, counter-clockwise as displayed
(a rotation by ``pi / 2`` is ``torch.rot90(image, 1, (-2, -1))``), hues are turns in ``[0, 1)``.

Row ``i`` renders digit ``i`` of ``mnist_5k``; labels are the digit classes, so the dataset splits
like ``mnist-5k`` and every split keeps its per-row ``angles`` and ``hues``.

Example::

    >>> objects = transformed_digits(count=8, generator=torch.Generator().manual_seed(0))
    >>> objects.images.images.shape, objects.angles.shape
    (torch.Size([8, 3, 32, 32]), torch.Size([8]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from hjepa.data.builtin_images import mnist_5k
from hjepa.data.images import ImageDataset
from hjepa.errors import InputError


def _check_batch(x: Tensor, values: Tensor, name: str) -> None:
    if x.dim() != 4:
        raise InputError(f"images must have shape (B, C, H, W), got {tuple(x.shape)}")
    if values.shape != (x.shape[0],):
        raise InputError(f"{name} must hold one value per image ({x.shape[0]},), got {tuple(values.shape)}")
    if not torch.isfinite(values).all():
        raise InputError(f"{name} contain NaN or inf")


def rotation_grid(angles: Tensor, out_size: int, scale: float = 1.0) -> Tensor:
    """Sampling grid of a rotation by ``angles (B,)`` about the centre: ``(B, out_size, out_size, 2)``.

    Output pixel at normalised ``(u, v)`` (``u`` to the right, ``v`` down) reads the input at
    ``scale * R(angle)^-1 (u, v)``: the content turns counter-clockwise on screen. ``scale`` is the
    output side over the input side when they differ (a smaller input pasted on a larger canvas).
    """
    cos, sin = torch.cos(angles), torch.sin(angles)
    theta = torch.zeros(angles.shape[0], 2, 3, dtype=angles.dtype, device=angles.device)
    # With v pointing down, counter-clockwise on screen is (u, v) -> (u cos + v sin, -u sin + v cos);
    # the grid needs its inverse.
    theta[:, 0, 0], theta[:, 0, 1] = scale * cos, -scale * sin
    theta[:, 1, 0], theta[:, 1, 1] = scale * sin, scale * cos
    return F.affine_grid(theta, [angles.shape[0], 1, out_size, out_size], align_corners=False)


def rotate_images(x: Tensor, angles: Tensor) -> Tensor:
    """Rotate each image by its angle (radians, counter-clockwise on screen) about its centre.

    Bilinear, zeros outside the image (the black background of the renderings).
    x (B, C, S, S) -> (B, C, S, S); ``angles`` (B,).
    """
    _check_batch(x, angles, "angles")
    if x.shape[-1] != x.shape[-2]:
        raise InputError(f"rotate_images needs square images, got {tuple(x.shape)}")
    grid = rotation_grid(angles.to(device=x.device, dtype=x.dtype), x.shape[-1])
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def hue_colours(hues: Tensor) -> Tensor:
    """Fully saturated, full-value RGB colours of ``hues (B,)`` (turns): ``(B, 3)`` in [0, 1]."""
    n = torch.tensor([5.0, 3.0, 1.0], dtype=hues.dtype, device=hues.device)
    k = torch.remainder(n + 6 * hues.unsqueeze(1), 6)  # (B, 3), the branch-free HSV -> RGB
    return 1.0 - torch.minimum(k, 4 - k).clamp(0, 1)


def render_objects(shapes: Tensor, angles: Tensor, hues: Tensor, size: int) -> Tensor:
    """Paint grey shapes in a colour and rotate them onto a black canvas.

    Args:
        shapes: ``(N, 1, h, h)`` opacities in ``[0, 1]`` (e.g. MNIST digits), ``h <= size``.
        angles: ``(N,)`` radians, counter-clockwise on screen.
        hues: ``(N,)`` turns of the colour circle.
        size: canvas side; the shape is pasted at its own resolution in the centre, rotated in
            one resampling (no double interpolation).
    Returns:
        ``(N, 3, size, size)`` in ``[0, 1]``.
    """
    _check_batch(shapes, angles, "angles")
    _check_batch(shapes, hues, "hues")
    if shapes.shape[1] != 1 or shapes.shape[-1] != shapes.shape[-2] or shapes.shape[-1] > size:
        raise InputError(f"shapes must be (N, 1, h, h) with h <= size={size}, got {tuple(shapes.shape)}")
    grid = rotation_grid(angles.to(shapes.dtype), size, scale=size / shapes.shape[-1])
    alpha = F.grid_sample(shapes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (alpha * hue_colours(hues.to(shapes.dtype)).view(-1, 3, 1, 1)).clamp(0, 1)


@dataclass
class TransformedObjects:
    """Rendered objects and the transformation each rendering was made with.

    Attributes:
        images: ``ImageDataset`` of ``uint8 (N, 3, S, S)`` renderings labelled with the object class.
        angles: ``float32 (N,)`` rotation of each rendering, radians.
        hues: ``float32 (N,)`` hue of each rendering, turns in ``[0, 1)``.
    """

    images: ImageDataset
    angles: Tensor
    hues: Tensor

    def __post_init__(self) -> None:
        n = len(self.images)
        for name in ("angles", "hues"):
            value = getattr(self, name)
            if value.shape != (n,) or not value.is_floating_point():
                raise InputError(f"{name} must be float ({n},), got {value.dtype} {tuple(value.shape)}")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Tensor) -> "TransformedObjects":
        """Rows ``indices (M,)`` in that order."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return TransformedObjects(self.images.subset(indices), self.angles[indices], self.hues[indices])

    def split(self, test_fraction: float, generator: torch.Generator) -> tuple["TransformedObjects", "TransformedObjects"]:
        """``(train, test)`` with the rows of ``ImageDataset.split`` for the same generator."""
        train_idx, test_idx = self.images.split_indices(test_fraction, generator)
        return self.subset(train_idx), self.subset(test_idx)

    def targets(self) -> dict[str, Tensor]:
        """Regression targets on the circle: ``{"rotation": (N, 2) cos/sin of the angle,
        "colour": (N, 2) cos/sin of 2 pi hue}``."""
        circle = circle_targets(self.angles, self.hues)
        return {"rotation": circle[:, :2], "colour": circle[:, 2:]}


def circle_targets(angles: Tensor, hues: Tensor) -> Tensor:
    """``(cos, sin)`` of ``angles (N,)`` (radians) and of ``2 pi`` times ``hues (N,)`` (turns): ``(N, 4)``,
    what a probe is asked to read (of a rendering, or of the transformation between two)."""
    turn = 2 * math.pi * hues
    return torch.stack([torch.cos(angles), torch.sin(angles), torch.cos(turn), torch.sin(turn)], dim=1)


def transformed_digits(count: int = 5000, size: int = 32, max_angle: float = math.pi / 2,
                       generator: torch.Generator | None = None) -> TransformedObjects:
    """The first ``count`` digits of ``mnist_5k``, each rendered once at a random angle and hue.

    Args:
        count: renderings, at most 5000 (row ``i`` is digit ``i``).
        size: canvas side, at least 28 (the digits keep their 28 px).
        max_angle: angles are uniform in ``[-max_angle, max_angle]`` (default +-90 degrees, the
            range of 3DIEBench's rotations about one axis); at most pi.
        generator: angles and hues; ``None`` uses a generator seeded with 0.
    Returns:
        ``TransformedObjects`` "rotated-digits", labels ``0..9``.
    """
    if not 1 <= count <= 5000:
        raise InputError(f"count must be in [1, 5000] (the digits of mnist-5k), got {count}")
    if size < 28:
        raise InputError(f"size must be >= 28 (the digits are 28 px), got {size}")
    if not 0.0 <= max_angle <= math.pi:
        raise InputError(f"max_angle must be in [0, pi], got {max_angle}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    digits = mnist_5k().subset(torch.arange(count))
    angles = (2 * torch.rand(count, generator=generator) - 1) * max_angle
    hues = torch.rand(count, generator=generator)
    rendered = torch.cat([
        render_objects(digits.float_images(slice(start, start + 1000)), angles[start:start + 1000],
                       hues[start:start + 1000], size)
        for start in range(0, count, 1000)
    ])
    images = ImageDataset(
        images=(rendered * 255).round().clamp(0, 255).to(torch.uint8), labels=digits.labels.clone(),
        num_classes=10, name="rotated-digits", class_names=digits.class_names,
    )
    return TransformedObjects(images, angles, hues)
