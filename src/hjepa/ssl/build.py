"""The one place that turns names (from the command line) into SSL methods, views and backbones.

* ``build_method(method, backbone_factory, in_channels, image_size, projector_dim, ...)``: one
  ``SSLMethod`` per name in ``METHODS``, including the ablations of the VICReg, BYOL and SimSiam
  papers, with projector widths scaled by ``projector_dim`` so CPU runs can use 512 or 1024
  instead of the papers' 2048-8192.
* ``build_views(method, image_size, channels)``: the method's view recipe, a callable
  ``(images (B, C, H, W), generator) -> list of num_views tensors``.
* ``build_backbone(name, in_channels, image_size, width)``: a backbone per name in ``BACKBONES``.

Names are plain ``Literal`` strings; ``match`` statements map them to objects (no registry).

Example::

    >>> method = build_method("vicreg", lambda: SmallConvNet(1, (8, 16)), 1, 28, projector_dim=32)
    >>> views = build_views("vicreg", 28, 1)(torch.rand(4, 1, 28, 28), torch.Generator())
    >>> method(views).embeddings.shape
    torch.Size([4, 32])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.resnet import resnet18
from hjepa.nn.vit import ViT
from hjepa.data.moving_digits import grey_textures
from hjepa.ssl.boxed_views import BoxedViews
from hjepa.ssl.flow_views import FlowViews
from hjepa.ssl.masks import MaskedViews, MultiBlockMasks
from hjepa.ssl.method import SSLMethod, feature_dim
from hjepa.ssl.methods import (
    BYOL,
    SIE,
    BarlowTwins,
    IJEPA,
    LeJEPA,
    MCJEPA,
    MLPBackbone,
    MaskedPixelPrediction,
    SimCLR,
    SimSiam,
    VICReg,
    VICRegMultiModal,
    VICRegL,
    VICRegTwoEncoders,
    intensity_profiles,
    profile_dim,
)
from hjepa.ssl.transform_views import IDENTITY_PARAMS, PARAM_DIM, TransformViews
from hjepa.ssl.views import (
    ViewPair,
    ViewRecipe,
    byol_views,
    digit_views,
    lejepa_views,
    simclr_views,
    simsiam_views,
)

MethodName = Literal[
    "vicreg",
    "vicreg-inv",
    "vicreg-inv-cov",
    "vicreg-inv-var",
    "vicreg-two-encoders",
    "vicreg-multimodal",
    "barlow",
    "simclr",
    "byol",
    "byol-no-predictor",
    "byol-no-predictor-vc",
    "simsiam",
    "simsiam-no-predictor",
    "simsiam-no-stopgrad",
    "simsiam-no-predictor-vc",
    "simsiam-no-stopgrad-vc",
    "lejepa",
    "ijepa",
    "ijepa-vc",
    "ijepa-pixels",
    "vicregl",
    "vicregl-alpha0.9",
    "sie",
    "sie-vicreg",
    "mc-jepa",
]
METHODS: tuple[str, ...] = get_args(MethodName)

BackboneName = Literal["convnet", "resnet18", "vit"]
BACKBONES: tuple[str, ...] = get_args(BackboneName)

ViewMaker = Callable[[Tensor, torch.Generator], list[Tensor]]

MCJEPA_TEXTURES = 512
"""Background textures MC-JEPA's training frames draw from."""
MCJEPA_TEXTURE_SEED = 1
"""Seed of those textures (the evaluation video uses other crops, ``hjepa.ssl.flow_eval``)."""


def _unknown_method(method: str) -> ValueError:
    return ValueError(f"unknown SSL method {method!r}; choose one of {', '.join(METHODS)}")


# --- methods -------------------------------------------------------------------------------------


def build_method(
    method: str,
    backbone_factory: Callable[[], nn.Module],
    in_channels: int,
    image_size: int,
    projector_dim: int,
    vc_weight: float = 0.04,
    base_momentum: float = 0.996,
    num_views: int = 4,
    num_global: int = 2,
    profile_hidden: int = 256,
    seed: int = 0,
) -> SSLMethod:
    """Build the method called ``method`` around fresh backbones from ``backbone_factory``.

    Args:
        method: one of ``METHODS``:

            * ``"vicreg"``: VICReg, weights (inv, var, cov) = (25, 25, 1). ``"vicreg-inv"`` (25, 0, 0),
              ``"vicreg-inv-cov"`` (25, 0, 1), ``"vicreg-inv-var"`` (25, 25, 0): the paper's
              ablation of the loss terms (a term off = weight 0, the others at their defaults).
            * ``"vicreg-two-encoders"``: two backbones from two factory calls, no weight sharing.
            * ``"vicreg-multimodal"``: a factory backbone on images and an ``MLPBackbone``
              (``profile_dim -> profile_hidden -> profile_hidden -> F``, ``F`` the image
              backbone's ``out_dim``) on intensity profiles.
            * ``"barlow"``, ``"simclr"``: the papers' defaults (lambda 5.1e-3, temperature 0.1).
            * ``"byol"``; ``"byol-no-predictor"``; ``"byol-no-predictor-vc"`` (plus ``vc_weight``).
            * ``"simsiam"``; ``"simsiam-no-predictor"``; ``"simsiam-no-stopgrad"``; and both with
              ``-vc`` (plus ``vc_weight``).
            * ``"lejepa"``: ``num_views`` views, ``num_global`` global, lambda 0.05.
            * ``"ijepa"``: I-JEPA (needs a ViT backbone), EMA target from ``base_momentum`` to 1,
              predictor of width ``ijepa_predictor_dim(F)``, depth 3, 4 heads.
              ``"ijepa-vc"``: the same plus ``vc_weight`` x VICReg's variance-covariance terms on the
              mean context token. ``"ijepa-pixels"``: the same masks and predictor regressing
              normalised pixels.
            * ``"vicregl"``: VICRegL with alpha 0.75, ``"vicregl-alpha0.9"`` with alpha 0.9;
              global expander ``(P, P, P)`` as VICReg, local expander ``(min(P, 128),) * 2``.
            * ``"sie"``: SIE, features split in halves (invariant first), invariant expander
              ``(P, P, P)``, equivariant expander ``(P, P, sie_equivariant_dim(P))`` and a
              hypernetwork predictor (linear in the rotation + hue parameters of
              ``TransformViews``), the paper's loss weights. ``"sie-vicreg"``: VICReg
              ``(P, P, P)`` on the same views (the parameters unused), SIE's baseline.
            * ``"mc-jepa"``: MC-JEPA (needs the convnet backbone): VICReg ``(P, P, P)`` on content
              views plus self-supervised flow on every pyramid level (the finest at full resolution).
        backbone_factory: returns a new backbone ``(B, in_channels, image_size, image_size) ->
            (B, F)`` with ``out_dim`` on each call.
        in_channels, image_size: the images the views will have (used by the profile branch).
        projector_dim: width ``P`` of the projector layers. Projectors: VICReg / Barlow ``(P, P, P)``;
            SimCLR ``(P, min(P, 128))``; BYOL ``(P, min(P, 256))`` with predictor hidden ``P``;
            SimSiam ``(P, P)`` with predictor bottleneck ``max(P // 4, 1)``; LeJEPA
            ``(P, min(P, 128))``.
        vc_weight: scale of VICReg's variance-covariance regulariser in the ``-vc`` variants.
        base_momentum: BYOL's initial target momentum (0.99 suits short runs better than 0.996).
        num_views, num_global: LeJEPA's view counts.
        profile_hidden: hidden width of the multimodal profile MLP.
        seed: LeJEPA's seed for its random SIGReg directions.
    Raises:
        ValueError: for an unknown name or a non-positive ``projector_dim``.
    """
    if method not in METHODS:
        raise _unknown_method(method)
    if projector_dim < 1:
        raise ValueError(f"projector_dim must be >= 1, got {projector_dim}")
    p = projector_dim
    wide = (p, p, p)
    match method:
        case "vicreg":
            return VICReg(backbone_factory(), wide, inv_weight=25.0, var_weight=25.0, cov_weight=1.0)
        case "vicreg-inv":
            return VICReg(backbone_factory(), wide, inv_weight=25.0, var_weight=0.0, cov_weight=0.0)
        case "vicreg-inv-cov":
            return VICReg(backbone_factory(), wide, inv_weight=25.0, var_weight=0.0, cov_weight=1.0)
        case "vicreg-inv-var":
            return VICReg(backbone_factory(), wide, inv_weight=25.0, var_weight=25.0, cov_weight=0.0)
        case "vicreg-two-encoders":
            return VICRegTwoEncoders(backbone_factory(), backbone_factory(), wide)
        case "vicreg-multimodal":
            image_backbone = backbone_factory()
            profile_backbone = MLPBackbone(
                profile_dim(in_channels, image_size), profile_hidden, feature_dim(image_backbone)
            )
            return VICRegMultiModal(image_backbone, profile_backbone, wide)
        case "barlow":
            return BarlowTwins(backbone_factory(), wide)
        case "simclr":
            return SimCLR(backbone_factory(), (p, min(p, 128)))
        case "byol" | "byol-no-predictor" | "byol-no-predictor-vc":
            return BYOL(
                backbone_factory(),
                (p, min(p, 256)),
                predictor_hidden=p,
                base_momentum=base_momentum,
                use_predictor=method == "byol",
                vc_weight=vc_weight if method.endswith("-vc") else 0.0,
            )
        case (
            "simsiam" | "simsiam-no-predictor" | "simsiam-no-stopgrad" | "simsiam-no-predictor-vc"
            | "simsiam-no-stopgrad-vc"
        ):
            return SimSiam(
                backbone_factory(),
                (p, p),
                predictor_hidden=max(p // 4, 1),
                use_predictor="no-predictor" not in method,
                stop_gradient="no-stopgrad" not in method,
                vc_weight=vc_weight if method.endswith("-vc") else 0.0,
            )
        case "lejepa":
            return LeJEPA(
                backbone_factory(), (p, min(p, 128)), num_views=num_views, num_global=num_global, seed=seed
            )
        case "ijepa" | "ijepa-vc" | "ijepa-pixels":
            backbone = backbone_factory()
            width = ijepa_predictor_dim(feature_dim(backbone))
            if method != "ijepa-pixels":
                return IJEPA(backbone, width, predictor_depth=3, predictor_heads=4, base_momentum=base_momentum,
                             vc_weight=vc_weight if method == "ijepa-vc" else 0.0)
            return MaskedPixelPrediction(backbone, width, predictor_depth=3, predictor_heads=4)
        case "vicregl" | "vicregl-alpha0.9":
            local = min(p, 128)
            return VICRegL(backbone_factory(), wide, (local, local), alpha=0.9 if method.endswith("0.9") else 0.75)
        case "sie":
            backbone = backbone_factory()
            dim = feature_dim(backbone)
            if dim < 2:
                raise ValueError(f"SIE splits the features in two parts; the backbone has {dim}")
            return SIE(backbone, dim // 2, wide, (p, p, sie_equivariant_dim(p)), PARAM_DIM, IDENTITY_PARAMS)
        case "sie-vicreg":
            return VICReg(backbone_factory(), wide, inv_weight=25.0, var_weight=25.0, cov_weight=1.0)
        case "mc-jepa":
            return MCJEPA(backbone_factory(), wide)
        case _:
            raise _unknown_method(method)


def sie_equivariant_dim(projector_dim: int) -> int:
    """SIE's equivariant embedding size: ``min(P, 64)`` (its predictor generates ``D x D`` weights)."""
    return min(projector_dim, 64)


def ijepa_predictor_dim(encoder_dim: int) -> int:
    """I-JEPA's narrow predictor: half the encoder width, rounded down to a multiple of 4 (>= 4)."""
    return max(4, encoder_dim // 2 // 4 * 4)


# --- views ---------------------------------------------------------------------------------------


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
        raise _unknown_method(method)
    if channels not in (1, 3):
        raise ValueError(f"views need 1 or 3 channels, got {channels}")
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    digits = is_digit_sized(image_size, channels)
    match method:
        case "mc-jepa":
            if channels != 1:
                raise ValueError(f"mc-jepa renders grey moving digits from one-channel images; got {channels} "
                                 "channels (use --dataset mnist-5k, digits or mnist-idx)")
            textures = grey_textures(MCJEPA_TEXTURES, 2 * image_size, torch.Generator().manual_seed(MCJEPA_TEXTURE_SEED))
            content = digit_views(image_size) if digits else byol_views(image_size)
            return FlowViews(content, textures, max_background_speed=min(2.0, image_size / 4))
        case "sie" | "sie-vicreg":
            if channels != 3:
                raise ValueError(f"{method} rotates and recolours RGB images; got {channels} channel(s) "
                                 "(use --dataset rotated-digits)")
            return TransformViews(with_params=method == "sie")
        case "ijepa" | "ijepa-vc" | "ijepa-pixels":
            return MaskedViews(MultiBlockMasks(grid=image_size // vit_patch_size(image_size)))
        case "vicregl" | "vicregl-alpha0.9":
            return BoxedViews(digit_views(image_size) if digits else byol_views(image_size))
        case "lejepa":
            if num_views < 2:
                raise ValueError(f"LeJEPA needs num_views >= 2, got {num_views}")
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


def vit_patch_size(image_size: int) -> int:
    """Patch side for a ViT on ``image_size`` px images: the largest divisor of ``image_size`` not
    above 4 (<= 32 px: 7x7 patches at 28 px, 8x8 at 32 px), 8 (<= 96 px) or 16 (larger)."""
    target = 4 if image_size <= 32 else 8 if image_size <= 96 else 16
    return max(p for p in range(1, target + 1) if image_size % p == 0)


def build_backbone(name: str, in_channels: int, image_size: int, width: int | None = None) -> nn.Module:
    """A backbone ``(B, in_channels, image_size, image_size) -> (B, out_dim)`` by name.

    Args:
        name: one of ``BACKBONES``:

            * ``"convnet"``: ``SmallConvNet`` with widths ``(w, 2w, 4w)``, ``w = width or 32``
              (``out_dim = 4w``).
            * ``"resnet18"``: CIFAR ResNet-18 of base width ``width or 64`` (``out_dim = 8w``).
            * ``"vit"``: a small ViT of dim ``width or 128`` (a multiple of 4), depth 4, 4 heads,
              patch size ``vit_patch_size(image_size)`` (``out_dim = dim``).
        in_channels: image channels.
        image_size: image side (the ViT needs it; the convolutional nets accept any size).
        width: the size knob above, or ``None`` for its default.
    """
    if width is not None and width < 1:
        raise ValueError(f"width must be >= 1 or None, got {width}")
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    match name:
        case "convnet":
            w = width or 32
            return SmallConvNet(in_channels, widths=(w, 2 * w, 4 * w))
        case "resnet18":
            return resnet18(in_channels, width=width or 64)
        case "vit":
            dim = width or 128
            if dim % 4 != 0:
                raise ValueError(f"ViT width must be a multiple of 4 (position codes, 4 heads), got {dim}")
            return ViT(image_size, vit_patch_size(image_size), in_channels, dim=dim, depth=4, heads=4)
        case _:
            raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
