"""The names the SSL command accepts: methods and backbones, and the ViT patch size per image size."""

from __future__ import annotations

from typing import Literal, get_args

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


def unknown_method(method: str) -> ValueError:
    return ValueError(f"unknown SSL method {method!r}; choose one of {', '.join(METHODS)}")


def vit_patch_size(image_size: int) -> int:
    """Patch side for a ViT on ``image_size`` px images: the largest divisor of ``image_size`` not
    above 4 (<= 32 px: 7x7 patches at 28 px, 8x8 at 32 px), 8 (<= 96 px) or 16 (larger)."""
    target = 4 if image_size <= 32 else 8 if image_size <= 96 else 16
    return max(p for p in range(1, target + 1) if image_size % p == 0)
