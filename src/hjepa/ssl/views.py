"""View recipes: random augmentations (:mod:`hjepa.ssl.augment`) chained into self-supervised views.

``ViewRecipe`` chains the operations in the usual order (crop, flip, colour jitter, grayscale,
blur, solarize); ``ViewPair`` holds the two recipes of a two-view method; the ``*_views``
functions give each method family the recipe of its paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.ssl.augment import (
    check_probability,
    check_range,
    color_jitter,
    gaussian_blur,
    horizontal_flip,
    random_grayscale,
    random_resized_crop,
    solarize,
)


@dataclass(frozen=True)
class ViewRecipe:
    """One random view distribution: crop -> flip -> colour jitter -> grayscale -> blur -> solarize.

    Calling it maps x (B, C, H, W) in [0, 1] to one view (B, C, size, size) in [0, 1].
    """

    size: int
    """Side of the square output view, in pixels."""
    crop_scale: tuple[float, float] = (0.08, 1.0)
    """Range of the crop's area as a fraction of the image area."""
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    """Range of the crop's aspect ratio width / height (sampled log-uniformly)."""
    flip_p: float = 0.5
    """Probability of a horizontal flip."""
    brightness: float = 0.4
    """Brightness jitter strength: factor ~ U(1 - s, 1 + s)."""
    contrast: float = 0.4
    """Contrast jitter strength: factor ~ U(1 - s, 1 + s)."""
    saturation: float = 0.2
    """Saturation jitter strength: factor ~ U(1 - s, 1 + s); ignored for 1-channel images."""
    hue: float = 0.1
    """Hue jitter strength in turns of the colour circle, <= 0.5; ignored for 1-channel images."""
    jitter_p: float = 0.8
    """Probability of applying the colour jitter."""
    grayscale_p: float = 0.2
    """Probability of converting to grayscale (channels kept)."""
    blur_p: float = 0.0
    """Probability of a Gaussian blur."""
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    """Range of the blur's standard deviation, in pixels of the output view."""
    solarize_p: float = 0.0
    """Probability of solarization (invert values >= 0.5)."""

    def __post_init__(self) -> None:
        if self.size < 1:
            raise InputError(f"size must be >= 1, got {self.size}")
        check_range(self.crop_scale, "crop_scale", 0.0, 1.0)
        check_range(self.crop_ratio, "crop_ratio", 0.0, math.inf)
        check_range(self.blur_sigma, "blur_sigma", 0.0, math.inf)
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
            check_probability(getattr(self, name), name)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x (B, C, H, W) in [0, 1] -> view (B, C, size, size) in [0, 1]."""
        x = random_resized_crop(x, self.size, self.crop_scale, self.crop_ratio, generator=generator)
        x = horizontal_flip(x, self.flip_p, generator=generator)
        x = color_jitter(
            x, self.brightness, self.contrast, self.saturation, self.hue, self.jitter_p, generator=generator
        )
        x = random_grayscale(x, self.grayscale_p, generator=generator)
        x = gaussian_blur(x, self.blur_p, self.blur_sigma, generator=generator)
        return solarize(x, self.solarize_p, generator=generator)


@dataclass(frozen=True)
class ViewPair:
    """The two view distributions of a two-view method (identical for symmetric methods)."""

    first: ViewRecipe
    """Recipe of the first view."""
    second: ViewRecipe
    """Recipe of the second view."""

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """x (B, C, H, W) -> two views, each (B, C, size, size), drawn independently per sample."""
        return self.first(x, generator), self.second(x, generator)


def imagenet_blur_sigma(size: int) -> tuple[float, float]:
    """The papers' blur range (0.1, 2.0) px, defined on 224 px views, rescaled to ``size`` px views.

    Keeping the blur's reach a fixed fraction of the view makes it remove the same share of detail
    at any resolution. At CIFAR scale (32 px) this gives sigma <= 0.29 px, i.e. almost no blur,
    which matches the common practice of dropping blur for 32 px images.
    """
    return (0.1 * size / 224, 2.0 * size / 224)


def byol_views(size: int) -> ViewPair:
    """BYOL's asymmetric pair, also used by VICReg and Barlow Twins.

    Both views: crop scale (0.08, 1), flip 0.5, jitter (0.4, 0.4, 0.2, 0.1) with p 0.8, grayscale
    0.2. The asymmetry (blur 1.0 vs 0.1, solarize 0 vs 0.2) comes from BYOL, whose ablations found
    it better than symmetric views; VICReg and Barlow Twins reuse the same pipeline. Blur sigma is
    rescaled to the view size (see ``imagenet_blur_sigma``).
    """
    sigma = imagenet_blur_sigma(size)
    first = ViewRecipe(size, blur_p=1.0, blur_sigma=sigma, solarize_p=0.0)
    second = ViewRecipe(size, blur_p=0.1, blur_sigma=sigma, solarize_p=0.2)
    return ViewPair(first, second)


def simclr_views(size: int) -> ViewPair:
    """SimCLR's symmetric pair: crop scale (0.08, 1), flip 0.5, strong colour jitter (strength 1:
    0.8, 0.8, 0.8, 0.2) with p 0.8, grayscale 0.2, blur 0.5, no solarization.

    SimCLR found strong colour distortion essential for contrastive learning (otherwise colour
    histograms alone identify the positive pair). Blur sigma is rescaled to the view size.
    """
    recipe = ViewRecipe(
        size, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2,
        blur_p=0.5, blur_sigma=imagenet_blur_sigma(size),
    )
    return ViewPair(recipe, recipe)


def simsiam_views(size: int) -> ViewPair:
    """SimSiam's symmetric pair: crop scale (0.2, 1) (milder than BYOL's), flip 0.5, jitter
    (0.4, 0.4, 0.4, 0.1) with p 0.8, grayscale 0.2, blur 0.5, no solarization.

    SimSiam follows MoCo v2's recipe, whose larger minimum crop suits the single-predictor,
    stop-gradient setup. Blur sigma is rescaled to the view size.
    """
    recipe = ViewRecipe(
        size, crop_scale=(0.2, 1.0), saturation=0.4, blur_p=0.5, blur_sigma=imagenet_blur_sigma(size),
    )
    return ViewPair(recipe, recipe)


def lejepa_views(size: int) -> ViewRecipe:
    """LeJEPA's single view distribution, to be called V times (V >= 2 views per image).

    LeJEPA predicts every view's embedding from the mean over views and needs no asymmetry, so all
    views come from one recipe (as in the authors' minimal example): crop scale (0.08, 1), flip
    0.5, strong jitter (0.8, 0.8, 0.8, 0.2) with p 0.8, grayscale 0.2, blur 0.5, solarize 0.2.
    Returns a ``ViewRecipe`` rather than a ``ViewPair`` for that reason. A multi-crop variant
    (smaller local views) is a second ``ViewRecipe`` with a smaller ``size`` and ``crop_scale``.
    Blur sigma is rescaled to the view size.
    """
    return ViewRecipe(
        size, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2,
        blur_p=0.5, blur_sigma=imagenet_blur_sigma(size), solarize_p=0.2,
    )


def digit_views(size: int) -> ViewPair:
    """Symmetric pair for small grayscale digit images (MNIST-like, e.g. 28 px).

    - crop scale (0.3, 1): a smaller crop would often cut away the strokes that tell digits apart;
    - no horizontal flip: mirrored digits change meaning (or stop being digits);
    - brightness/contrast jitter only (0.4, p 0.8): there is no colour, so no saturation/hue and
      no grayscale;
    - mild blur (p 0.5, sigma 0.1-1.0 px): thin strokes vanish under the ImageNet-scale blur;
    - no solarization: on black-background digits it mostly turns strokes dark, a large shift.
    """
    recipe = ViewRecipe(
        size, crop_scale=(0.3, 1.0), flip_p=0.0, brightness=0.4, contrast=0.4, saturation=0.0,
        hue=0.0, jitter_p=0.8, grayscale_p=0.0, blur_p=0.5, blur_sigma=(0.1, 1.0), solarize_p=0.0,
    )
    return ViewPair(recipe, recipe)
