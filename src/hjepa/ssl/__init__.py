"""Image self-supervised learning (VICReg, Barlow Twins, SimCLR, BYOL, SimSiam, LeJEPA).

``augment``: batched random augmentations; ``views``: the per-method view recipes.
"""

from hjepa.ssl.augment import (
    LUMA_WEIGHTS,
    color_jitter,
    gaussian_blur,
    horizontal_flip,
    random_grayscale,
    random_resized_crop,
    solarize,
)
from hjepa.ssl.views import (
    ViewPair,
    ViewRecipe,
    byol_views,
    digit_views,
    imagenet_blur_sigma,
    lejepa_views,
    simclr_views,
    simsiam_views,
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
