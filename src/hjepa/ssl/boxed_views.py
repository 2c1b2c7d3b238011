"""Two augmented views that also report where they were cut from: the input of VICRegL.

Bardes, Ponce & LeCun, "VICRegL: Self-Supervised Learning of Local Visual Features",
NeurIPS 2022: the location-based matching pairs feature-map cells of the two views that look at
nearby places of the original image, so the view maker must return each crop's box.

A box is ``(x0, y0, x1, y1)`` in normalised image coordinates (``0`` = left / top edge, ``1`` =
right / bottom edge): the view's left edge samples the image at ``x0``, its right edge at
``x1``. A horizontal flip swaps ``x0`` and ``x1`` (so ``x0 > x1`` means "mirrored"), which keeps
the map from view coordinates to image coordinates a single formula (``box_points``).

``BoxedViews`` follows a ``ViewPair``'s recipes exactly (crop scale and ratio, flip, colour
jitter, grayscale, blur, solarize, all from ``hjepa.ssl.augment``) except that the crop and flip
are drawn here so that their boxes are known. Randomness comes from the explicit generator.

Example::

    >>> from hjepa.ssl.views import digit_views
    >>> views = BoxedViews(digit_views(28))(torch.rand(4, 1, 28, 28), torch.Generator().manual_seed(0))
    >>> [tuple(v.shape) for v in views]
    [(4, 1, 28, 28), (4, 1, 28, 28), (4, 4), (4, 4)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from hjepa.errors import InputError
from hjepa.ssl.augment import color_jitter, gaussian_blur, random_grayscale, solarize
from hjepa.ssl.views import ViewPair, ViewRecipe


def sample_boxes(batch: int, height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float],
                 generator: torch.Generator) -> Tensor:
    """Random crop boxes ``(B, 4)`` = ``(x0, y0, x1, y1)`` in ``[0, 1]``, as ``random_resized_crop``.

    Per sample: area fraction ~ U(scale), aspect ratio ``w / h`` log-uniform in ``ratio``, sides
    clipped to the image, position uniform among the placements inside the image.
    """
    if batch < 1 or height < 1 or width < 1:
        raise InputError(f"need batch, height, width >= 1, got {batch}, {height}, {width}")
    if not 0.0 < scale[0] <= scale[1] <= 1.0:
        raise InputError(f"scale must satisfy 0 < lo <= hi <= 1, got {scale}")
    if not 0.0 < ratio[0] <= ratio[1] or not math.isfinite(ratio[1]):
        raise InputError(f"ratio must satisfy 0 < lo <= hi < inf, got {ratio}")
    u = torch.rand(4, batch, generator=generator, dtype=torch.float64)
    area = (scale[0] + (scale[1] - scale[0]) * u[0]) * (height * width)
    aspect = torch.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1])
    crop_w = (torch.sqrt(area * aspect) / width).clamp(max=1.0)  # fractions of the image side
    crop_h = (torch.sqrt(area / aspect) / height).clamp(max=1.0)
    x0 = (1.0 - crop_w) * u[2]
    y0 = (1.0 - crop_h) * u[3]
    return torch.stack([x0, y0, x0 + crop_w, y0 + crop_h], dim=1).float()


def flip_boxes(boxes: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Mirror each box with probability ``p`` (swap ``x0`` and ``x1``); ``p = 0`` draws nothing."""
    if not 0.0 <= p <= 1.0:
        raise InputError(f"flip probability must be in [0, 1], got {p}")
    if p == 0:
        return boxes
    flip = torch.rand(boxes.shape[0], generator=generator) < p
    mirrored = boxes[:, [2, 1, 0, 3]]
    return torch.where(flip.view(-1, 1), mirrored, boxes)


def crop_boxes(images: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Resample ``images (B, C, H, W)`` inside ``boxes (B, 4)`` to ``(B, C, size, size)`` (bilinear).

    A box with ``x0 > x1`` comes out mirrored left-right.
    """
    if images.dim() != 4 or boxes.shape != (images.shape[0], 4):
        raise InputError(f"need images (B, C, H, W) and boxes (B, 4), got {tuple(images.shape)}, {tuple(boxes.shape)}")
    if size < 1:
        raise InputError(f"size must be >= 1, got {size}")
    b, c = images.shape[:2]
    boxes = boxes.to(device=images.device, dtype=images.dtype)
    x0, y0, x1, y1 = boxes.unbind(1)
    theta = torch.zeros(b, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = x1 - x0  # normalised [-1, 1] view x -> image x: scale and centre offset
    theta[:, 0, 2] = x0 + x1 - 1
    theta[:, 1, 1] = y1 - y0
    theta[:, 1, 2] = y0 + y1 - 1
    grid = F.affine_grid(theta, [b, c, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp(0, 1)


def box_points(boxes: Tensor, height: int, width: int) -> Tensor:
    """Image coordinates of the cell centres of a ``height x width`` map over each view.

    Cell ``(i, j)`` (row-major index ``i * width + j``) of a view cut from box ``(x0, y0, x1,
    y1)`` is centred at ``(x0 + (j + 0.5) / width * (x1 - x0), y0 + (i + 0.5) / height * (y1 - y0))``.

    Args:
        boxes: ``(B, 4)``.
    Returns:
        ``(B, height * width, 2)`` points ``(x, y)`` in normalised image coordinates.
    """
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise InputError(f"boxes must be (B, 4), got {tuple(boxes.shape)}")
    v = (torch.arange(height, device=boxes.device, dtype=boxes.dtype) + 0.5) / height
    u = (torch.arange(width, device=boxes.device, dtype=boxes.dtype) + 0.5) / width
    vv, uu = torch.meshgrid(v, u, indexing="ij")  # (h, w)
    x0, y0, x1, y1 = (t.view(-1, 1) for t in boxes.unbind(1))
    xs = x0 + uu.reshape(1, -1) * (x1 - x0)  # (B, h*w)
    ys = y0 + vv.reshape(1, -1) * (y1 - y0)
    return torch.stack([xs, ys], dim=-1)


def boxed_view(images: Tensor, recipe: ViewRecipe, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """One view of ``recipe`` and its box: ``((B, C, size, size), (B, 4))``."""
    _, _, h, w = images.shape
    boxes = sample_boxes(images.shape[0], h, w, recipe.crop_scale, recipe.crop_ratio, generator)
    boxes = flip_boxes(boxes, recipe.flip_p, generator)
    x = crop_boxes(images, boxes, recipe.size)
    x = color_jitter(x, recipe.brightness, recipe.contrast, recipe.saturation, recipe.hue, recipe.jitter_p,
                     generator=generator)
    x = random_grayscale(x, recipe.grayscale_p, generator=generator)
    x = gaussian_blur(x, recipe.blur_p, recipe.blur_sigma, generator=generator)
    return solarize(x, recipe.solarize_p, generator=generator), boxes.to(images.device)


@dataclass(frozen=True)
class BoxedViews:
    """``images (B, C, H, W) -> [view_a, view_b, boxes_a (B, 4), boxes_b (B, 4)]`` from a ``ViewPair``."""

    pair: ViewPair

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        if not isinstance(images, Tensor) or images.dim() != 4:
            raise InputError(f"BoxedViews expects images (B, C, H, W), got {getattr(images, 'shape', images)}")
        if generator is None:
            generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
        view_a, boxes_a = boxed_view(images, self.pair.first, generator)
        view_b, boxes_b = boxed_view(images, self.pair.second, generator)
        return [view_a, view_b, boxes_a, boxes_b]
