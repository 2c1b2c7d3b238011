"""Image self-supervised learning (VICReg, Barlow Twins, SimCLR, BYOL, SimSiam, LeJEPA).

``views``: batched random augmentations and the per-method view recipes.
"""

from hjepa.ssl.views import (
    LUMA_WEIGHTS,
    ViewPair,
    ViewRecipe,
    byol_views,
    color_jitter,
    digit_views,
    gaussian_blur,
    horizontal_flip,
    imagenet_blur_sigma,
    lejepa_views,
    random_grayscale,
    random_resized_crop,
    simclr_views,
    simsiam_views,
    solarize,
)

__all__ = [
    # views: augmentations
    "LUMA_WEIGHTS",
    "color_jitter",
    "gaussian_blur",
    "horizontal_flip",
    "random_grayscale",
    "random_resized_crop",
    "solarize",
    # views: recipes
    "ViewPair",
    "ViewRecipe",
    "byol_views",
    "digit_views",
    "imagenet_blur_sigma",
    "lejepa_views",
    "simclr_views",
    "simsiam_views",
]
