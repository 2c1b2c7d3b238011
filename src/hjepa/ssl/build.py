"""The one place that turns names (from the command line) into SSL methods, views and backbones.

* ``build_method(method, backbone_factory, in_channels, image_size, projector_dim, ...)``: one
  ``SSLMethod`` per name in ``METHODS``, including the ablations of the VICReg, BYOL and SimSiam
  papers, with projector widths scaled by ``projector_dim`` so CPU runs can use 512 or 1024
  instead of the papers' 2048-8192.
* the method's views come from :func:`hjepa.ssl.view_makers.build_views`.
* ``build_backbone(name, in_channels, image_size, width)``: a backbone per name in ``hjepa.ssl.names.BACKBONES``.

Names are plain ``Literal`` strings; ``match`` statements map them to objects (no registry).

Example::

    >>> method = build_method("vicreg", lambda: SmallConvNet(1, (8, 16)), 1, 28, projector_dim=32)
    >>> views = hjepa.ssl.view_makers.build_views("vicreg", 28, 1)(torch.rand(4, 1, 28, 28), torch.Generator())
    >>> method(views).embeddings.shape
    torch.Size([4, 32])
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hjepa.errors import InputError
from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.resnet import resnet18
from hjepa.nn.vit import ViT
from hjepa.ssl.method import SSLMethod, feature_dim
from hjepa.ssl.methods import (
    BYOL,
    IJEPA,
    MCJEPA,
    SIE,
    BarlowTwins,
    LeJEPA,
    MaskedPixelPrediction,
    MLPBackbone,
    SimCLR,
    SimSiam,
    VICReg,
    VICRegL,
    VICRegMultiModal,
    VICRegTwoEncoders,
    profile_dim,
)
from hjepa.ssl.names import BACKBONES, METHODS, unknown_method, vit_patch_size
from hjepa.ssl.transform_views import IDENTITY_PARAMS, PARAM_DIM

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
        raise unknown_method(method)
    if projector_dim < 1:
        raise InputError(f"projector_dim must be >= 1, got {projector_dim}")
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
                raise InputError(f"SIE splits the features in two parts; the backbone has {dim}")
            return SIE(backbone, dim // 2, wide, (p, p, sie_equivariant_dim(p)), PARAM_DIM, IDENTITY_PARAMS)
        case "sie-vicreg":
            return VICReg(backbone_factory(), wide, inv_weight=25.0, var_weight=25.0, cov_weight=1.0)
        case "mc-jepa":
            return MCJEPA(backbone_factory(), wide)
        case _:
            raise unknown_method(method)


def sie_equivariant_dim(projector_dim: int) -> int:
    """SIE's equivariant embedding size: ``min(P, 64)`` (its predictor generates ``D x D`` weights)."""
    return min(projector_dim, 64)


def ijepa_predictor_dim(encoder_dim: int) -> int:
    """I-JEPA's narrow predictor: half the encoder width, rounded down to a multiple of 4 (>= 4)."""
    return max(4, encoder_dim // 2 // 4 * 4)


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
        raise InputError(f"width must be >= 1 or None, got {width}")
    if image_size < 1:
        raise InputError(f"image_size must be >= 1, got {image_size}")
    match name:
        case "convnet":
            w = width or 32
            return SmallConvNet(in_channels, widths=(w, 2 * w, 4 * w))
        case "resnet18":
            return resnet18(in_channels, width=width or 64)
        case "vit":
            dim = width or 128
            if dim % 4 != 0:
                raise InputError(f"ViT width must be a multiple of 4 (position codes, 4 heads), got {dim}")
            return ViT(image_size, vit_patch_size(image_size), in_channels, dim=dim, depth=4, heads=4)
        case _:
            raise InputError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
