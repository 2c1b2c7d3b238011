"""View makers: ``images (B, C, H, W) -> [view, view, ...]`` for each SSL method (two augmented views,
LeJEPA's repeated views, masked views, boxed views, flow pairs, transformed pairs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from hjepa.data.moving_digits import grey_textures
from hjepa.errors import InputError
from hjepa.ssl.boxed_views import BoxedViews
from hjepa.ssl.flow_views import FlowViews
from hjepa.ssl.masks import MaskedViews, MultiBlockMasks
from hjepa.ssl.methods import intensity_profiles
from hjepa.ssl.names import METHODS, unknown_method, vit_patch_size
from hjepa.ssl.transform_views import TransformViews
from hjepa.ssl.views import (
    ViewPair,
    ViewRecipe,
    byol_views,
    digit_views,
    lejepa_views,
    simclr_views,
    simsiam_views,
)

MCJEPA_TEXTURES = 512
"""Background textures MC-JEPA's training frames draw from."""
MCJEPA_TEXTURE_SEED = 1
"""Seed of those textures (the evaluation video uses other crops, ``hjepa.ssl.flow_eval``)."""


ViewMaker = Callable[[Tensor, torch.Generator], list[Tensor]]


@dataclass(frozen=True)
class TwoViews:
    """``images (B, C, H, W) -> [first view, second view]`` from a ``ViewPair``."""

    pair: ViewPair

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        return list(self.pair(images, generator))


@dataclass(frozen=True)
class RepeatedViews:
    """``images (B, C, H, W) -> count`` independent views from one ``ViewRecipe`` (LeJEPA)."""

    recipe: ViewRecipe
    count: int

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        return [self.recipe(images, generator) for _ in range(self.count)]


@dataclass(frozen=True)
class ImageAndProfileViews:
    """``images (B, C, H, W) -> [view (B, C, S, S), intensity_profiles(second view) (B, C * 2S)]``."""

    pair: ViewPair

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        first, second = self.pair(images, generator)
        return [first, intensity_profiles(second)]


def is_digit_sized(image_size: int, channels: int) -> bool:
    """Whether images get the digit recipe: one channel and at most 32 px (MNIST-like)."""
    return channels == 1 and image_size <= 32


def build_views(method: str, image_size: int, channels: int, num_views: int = 4) -> ViewMaker:
    """The view maker of ``method`` for ``image_size`` px images with ``channels`` channels.

    Recipes: 1-channel images of at most 32 px get ``digit_views`` (no flip, no colour, mild
    blur) for every method. Otherwise the papers' recipes: ``byol_views`` for VICReg, Barlow Twins
    and BYOL, ``simclr_views`` for SimCLR, ``simsiam_views`` for SimSiam, ``lejepa_views`` for
    LeJEPA. LeJEPA gets ``num_views`` views of the same recipe (must match ``build_method``'s).
    I-JEPA (and its pixel variant) gets no augmentation: ``[images, context, targets]`` with
    multi-block masks on the ViT patch grid (``hjepa.ssl.masks``). VICRegL gets VICReg's recipe
    with the crop boxes: ``[view_a, view_b, boxes_a (B, 4), boxes_b (B, 4)]``.
    ``"vicreg-multimodal"`` returns ``[view, intensity_profiles(other view)]``. SIE gets
    ``TransformViews`` (RGB only): two rotated, hue-shifted copies and the relative parameters
    ``[view_a, view_b, params (B, 4)]``; ``"sie-vicreg"`` the same two views without parameters.
    MC-JEPA (one-channel images only) gets ``FlowViews``: VICReg's recipe for the content views
    and a frame pair of the image moving over one of ``MCJEPA_TEXTURES`` grey photo textures
    (drawn with seed ``MCJEPA_TEXTURE_SEED``), with its true flow.

    Returns:
        ``maker(images (B, C, H, W) in [0, 1], generator) -> list`` of the method's views, each
        ``(B, C, image_size, image_size)`` (the profile: ``(B, C * 2 * image_size)``).
    """
    if method not in METHODS:
        raise unknown_method(method)
    if channels not in (1, 3):
        raise InputError(f"views need 1 or 3 channels, got {channels}")
    if image_size < 1:
        raise InputError(f"image_size must be >= 1, got {image_size}")
    digits = is_digit_sized(image_size, channels)
    match method:
        case "mc-jepa":
            if channels != 1:
                raise InputError(f"mc-jepa renders grey moving digits from one-channel images; got {channels} "
                                 "channels (use --dataset mnist-5k, digits or mnist-idx)")
            textures = grey_textures(MCJEPA_TEXTURES, 2 * image_size, torch.Generator().manual_seed(MCJEPA_TEXTURE_SEED))
            content = digit_views(image_size) if digits else byol_views(image_size)
            return FlowViews(content, textures, max_background_speed=min(2.0, image_size / 4))
        case "sie" | "sie-vicreg":
            if channels != 3:
                raise InputError(f"{method} rotates and recolours RGB images; got {channels} channel(s) "
                                 "(use --dataset rotated-digits)")
            return TransformViews(with_params=method == "sie")
        case "ijepa" | "ijepa-vc" | "ijepa-pixels":
            return MaskedViews(MultiBlockMasks(grid=image_size // vit_patch_size(image_size)))
        case "vicregl" | "vicregl-alpha0.9":
            return BoxedViews(digit_views(image_size) if digits else byol_views(image_size))
        case "lejepa":
            if num_views < 2:
                raise InputError(f"LeJEPA needs num_views >= 2, got {num_views}")
            recipe = digit_views(image_size).first if digits else lejepa_views(image_size)
            return RepeatedViews(recipe, num_views)
        case "vicreg-multimodal":
            return ImageAndProfileViews(digit_views(image_size) if digits else byol_views(image_size))
        case "simclr":
            return TwoViews(digit_views(image_size) if digits else simclr_views(image_size))
        case (
            "simsiam" | "simsiam-no-predictor" | "simsiam-no-stopgrad" | "simsiam-no-predictor-vc"
            | "simsiam-no-stopgrad-vc"
        ):
            return TwoViews(digit_views(image_size) if digits else simsiam_views(image_size))
        case _:  # VICReg (all variants), Barlow Twins, BYOL (all variants)
            return TwoViews(digit_views(image_size) if digits else byol_views(image_size))


# --- backbones -----------------------------------------------------------------------------------


