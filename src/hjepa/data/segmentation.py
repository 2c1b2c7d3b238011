"""Offline semantic-segmentation datasets with exact masks, composited from bundled images.

``texture_scenes`` (the one the benchmarks use): a texture of one photograph with a large shape
(ellipse or rectangle, random size, position and rotation) filled with the texture of another;
every pixel's class is the photograph its texture comes from, the image's label is the
background photograph (it covers most of the image). Recognising the texture of an image is
easy for self-supervised features; segmenting the shape needs features that stay local.

``digit_scenes``: each image is a ``size x size`` RGB crop of one of scikit-image's bundled photographs (the
texture of ``hjepa.data.builtin_images.photo_patches``, at reduced contrast) with one MNIST digit (``mnist_5k``)
pasted on top: the digit's grey levels, dilated by a 3 x 3 maximum filter (bolder strokes, so
that coarse feature maps can resolve them), are its opacity ``alpha``, its colour is a random RGB
colour chosen to contrast with the background, its side is a random fraction ``digit_scale`` of
the image, its position uniform inside the image::

    image = alpha * colour + (1 - alpha) * background
    mask  = 1 + digit class where alpha >= 0.5, else 0 (background)

So the exact per-pixel labels are known: ``num_classes = 11`` (background + ten digits), and the
image-level label is the digit's class (classification on the same images). Nothing is
downloaded; the same generator seed gives the same dataset.

Example::

    >>> scenes = digit_scenes(count=20, generator=torch.Generator().manual_seed(0))
    >>> scenes.images.images.shape, scenes.masks.shape, scenes.num_classes
    (torch.Size([20, 3, 32, 32]), torch.Size([20, 32, 32]), 11)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from hjepa.data.builtin_images import DEFAULT_PHOTOS, mnist_5k, photo_patches
from hjepa.data.images import ImageDataset
from hjepa.errors import InputError

SEGMENTATION_CLASSES = ("background",) + tuple(str(i) for i in range(10))
"""Pixel classes of ``digit_scenes``."""


@dataclass
class SegmentationDataset:
    """Images with an image-level label and an exact per-pixel class mask.

    Attributes:
        images: ``ImageDataset`` of ``uint8 (N, C, H, W)`` images; its labels are image-level
            (the digit's class).
        masks: ``int64 (N, H, W)`` pixel classes in ``[0, num_classes)``.
        num_classes: pixel classes (``class_names`` holds their names).
    """

    images: ImageDataset
    masks: Tensor
    num_classes: int
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n, _, h, w = self.images.images.shape
        if self.masks.dtype != torch.int64 or tuple(self.masks.shape) != (n, h, w):
            raise InputError(f"masks must be int64 ({n}, {h}, {w}), got {self.masks.dtype} {tuple(self.masks.shape)}")
        if len(self.class_names) != self.num_classes:
            raise InputError(f"{len(self.class_names)} class names for {self.num_classes} pixel classes")
        if n and (int(self.masks.min()) < 0 or int(self.masks.max()) >= self.num_classes):
            raise InputError(f"mask values must lie in [0, {self.num_classes})")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Tensor, name: str | None = None) -> "SegmentationDataset":
        """Rows ``indices (M,)`` in that order."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return SegmentationDataset(self.images.subset(indices, name), self.masks[indices], self.num_classes,
                                   self.class_names)

    def split(self, test_fraction: float, generator: torch.Generator) -> tuple["SegmentationDataset", "SegmentationDataset"]:
        """Random ``(train, test)`` split holding ``round(test_fraction * N)`` test rows (in original order)."""
        if not 0.0 < test_fraction < 1.0:
            raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
        n_test = round(test_fraction * len(self))
        if not 1 <= n_test < len(self):
            raise InputError(f"test_fraction {test_fraction} of {len(self)} rows leaves an empty split")
        order = torch.randperm(len(self), generator=generator)
        test, train = order[:n_test].sort().values, order[n_test:].sort().values
        name = self.images.name
        return self.subset(train, f"{name}-train"), self.subset(test, f"{name}-test")


def _paste(digits: Tensor, size: int, sides: Tensor, tops: Tensor, lefts: Tensor) -> Tensor:
    """Digits ``(N, 1, h, w)`` in [0, 1] resampled into ``sides x sides`` boxes at ``(tops, lefts)``
    of a ``size x size`` canvas (zeros outside): ``(N, 1, size, size)``."""
    n = digits.shape[0]
    theta = torch.zeros(n, 2, 3)
    # canvas normalised coordinate u -> digit coordinate (size / side) * u + (size - 2 * offset) / side - 1
    theta[:, 0, 0] = size / sides
    theta[:, 0, 2] = (size - 2 * lefts) / sides - 1
    theta[:, 1, 1] = size / sides
    theta[:, 1, 2] = (size - 2 * tops) / sides - 1
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    return F.grid_sample(digits, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)


def digit_scenes(count: int = 5000, size: int = 32, digit_scale: tuple[float, float] = (0.6, 1.0),
                 texture_contrast: float = 0.5, generator: torch.Generator | None = None,
                 photos: Sequence[str] = DEFAULT_PHOTOS) -> SegmentationDataset:
    """``count`` digits of ``mnist_5k`` composited over photo textures (module docstring).

    Args:
        count: images, at most 5000 (each digit of ``mnist_5k`` is used at most once).
        size: image side in pixels.
        digit_scale: range of the digit box's side as a fraction of ``size``.
        texture_contrast: the background is ``mean + texture_contrast * (texture - mean)`` (per
            image and channel): 1 keeps the photo, smaller values make the digit stand out more.
        generator: all randomness (digits chosen, textures, colours, sizes, positions); ``None``
            uses a generator seeded with 0.
        photos: source photographs of the textures (names of ``skimage.data`` photographs).
    Returns:
        ``SegmentationDataset`` "digit-scenes": images ``uint8 (count, 3, size, size)`` with digit
        labels, masks ``int64 (count, size, size)`` in ``[0, 11)``.
    """
    if not 1 <= count <= 5000:
        raise InputError(f"count must be in [1, 5000] (the digits of mnist-5k), got {count}")
    if size < 8:
        raise InputError(f"size must be >= 8, got {size}")
    if not 0.0 < digit_scale[0] <= digit_scale[1] <= 1.0:
        raise InputError(f"digit_scale must satisfy 0 < lo <= hi <= 1, got {digit_scale}")
    if not 0.0 <= texture_contrast <= 1.0:
        raise InputError(f"texture_contrast must be in [0, 1], got {texture_contrast}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    mnist = mnist_5k()
    chosen = torch.randperm(len(mnist), generator=generator)[:count]
    digits = F.max_pool2d(mnist.float_images(chosen), 3, stride=1, padding=1)  # (N, 1, 28, 28), bolder strokes
    labels = mnist.labels[chosen]
    per_photo = math.ceil(count / len(photos))
    textures = photo_patches(size=2 * size, per_image=per_photo, generator=generator, photos=photos)
    texture_rows = torch.randperm(len(textures), generator=generator)[:count]
    background = F.avg_pool2d(textures.float_images(texture_rows), 2)  # (N, 3, size, size): 2x2 box filter
    mean = background.mean(dim=(2, 3), keepdim=True)  # (N, 3, 1, 1)
    background = mean + texture_contrast * (background - mean)
    sides = (digit_scale[0] + (digit_scale[1] - digit_scale[0]) * torch.rand(count, generator=generator)) * size
    tops = (size - sides) * torch.rand(count, generator=generator)
    lefts = (size - sides) * torch.rand(count, generator=generator)
    alpha = _paste(digits, size, sides, tops, lefts)  # (N, 1, size, size)
    # A colour far from the background's mean, per channel: dark on light, light on dark.
    u = torch.rand(count, 3, 1, 1, generator=generator)
    colour = torch.where(mean > 0.5, 0.35 * u, 0.65 + 0.35 * u)
    image = alpha * colour + (1 - alpha) * background
    masks = torch.where(alpha[:, 0] >= 0.5, labels.view(-1, 1, 1) + 1, torch.zeros((), dtype=torch.int64))
    dataset = ImageDataset(
        images=(image * 255).round().clamp(0, 255).to(torch.uint8),
        labels=labels.clone(),
        num_classes=10,
        name="digit-scenes",
        class_names=tuple(str(i) for i in range(10)),
    )
    return SegmentationDataset(dataset, masks.long(), len(SEGMENTATION_CLASSES), SEGMENTATION_CLASSES)


def _shape_masks(count: int, size: int, radius: tuple[float, float], generator: torch.Generator) -> Tensor:
    """Random filled ellipses or rectangles: bool ``(count, size, size)``.

    Per image: kind (ellipse or rectangle, probability 1/2 each), centre uniform in the middle
    40% of each side, half-axes ``~ U(radius) * size`` (a rectangle's scaled by 0.85 so both
    kinds cover similar areas), rotation uniform.
    """
    u = torch.rand(6, count, 1, 1, generator=generator)
    centre_x, centre_y = (0.3 + 0.4 * u[0]) * size, (0.3 + 0.4 * u[1]) * size
    half_a = (radius[0] + (radius[1] - radius[0]) * u[2]) * size
    half_b = (radius[0] + (radius[1] - radius[0]) * u[3]) * size
    angle = math.pi * u[4]
    ellipse = u[5] < 0.5
    pixel = torch.arange(size, dtype=torch.float32) + 0.5
    dx, dy = pixel.view(1, 1, size) - centre_x, pixel.view(1, size, 1) - centre_y
    along = dx * torch.cos(angle) + dy * torch.sin(angle)  # rotated coordinates
    across = -dx * torch.sin(angle) + dy * torch.cos(angle)
    inside_ellipse = (along / half_a) ** 2 + (across / half_b) ** 2 <= 1.0
    inside_box = (along.abs() <= 0.85 * half_a) & (across.abs() <= 0.85 * half_b)
    return torch.where(ellipse, inside_ellipse, inside_box)


def texture_scenes(count: int = 5000, size: int = 32, radius: tuple[float, float] = (0.2, 0.38),
                   generator: torch.Generator | None = None, photos: Sequence[str] = DEFAULT_PHOTOS) -> SegmentationDataset:
    """Texture of photo ``i`` with a shape filled with the texture of photo ``j != i`` (module docstring).

    Textures are ``2 * size`` px crops of the photographs at random places, halved by a 2 x 2 box
    filter; every image uses its own two crops.

    Args:
        count: images.
        size: image side in pixels.
        radius: range of the shape's half-axes as a fraction of ``size`` (the default shapes
            cover about 12-45% of the image).
        generator: all randomness; ``None`` uses a generator seeded with 0.
        photos: the photographs, i.e. the classes (at least 2).
    Returns:
        ``SegmentationDataset`` "texture-scenes": images ``uint8 (count, 3, size, size)`` labelled
        with the background photograph, masks ``int64 (count, size, size)`` holding each pixel's
        photograph, ``num_classes = len(photos)``.
    """
    photos = tuple(photos)
    if len(photos) < 2:
        raise InputError(f"texture_scenes needs at least 2 photos, got {list(photos)}")
    if count < 1 or size < 8:
        raise InputError(f"need count >= 1 and size >= 8, got {count}, {size}")
    if not 0.0 < radius[0] <= radius[1] <= 0.5:
        raise InputError(f"radius must satisfy 0 < lo <= hi <= 0.5, got {radius}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    k = len(photos)
    background = torch.randint(0, k, (count,), generator=generator)
    foreground = (background + torch.randint(1, k, (count,), generator=generator)) % k  # never the same photo
    # Crop j of photo p is row p * per_photo + j of photo_patches; each use takes the next crop of its photo.
    uses = torch.cat([background, foreground])
    per_photo = int(torch.bincount(uses, minlength=k).max())
    textures = photo_patches(size=2 * size, per_image=per_photo, generator=generator, photos=photos)
    order = torch.argsort(uses, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(uses)) - torch.searchsorted(uses[order], uses[order])  # j-th use of its photo
    crops = F.avg_pool2d(textures.float_images(uses * per_photo + rank), 2)  # (2N, 3, size, size)
    inside = _shape_masks(count, size, radius, generator)  # (N, size, size)
    image = torch.where(inside.unsqueeze(1), crops[count:], crops[:count])
    masks = torch.where(inside, foreground.view(-1, 1, 1), background.view(-1, 1, 1))
    dataset = ImageDataset(
        images=(image * 255).round().clamp(0, 255).to(torch.uint8),
        labels=background.clone(),
        num_classes=k,
        name="texture-scenes",
        class_names=photos,
    )
    return SegmentationDataset(dataset, masks, k, photos)
