"""Batched SSL augmentations: shapes, ranges, randomness control, exact behaviour at p = 0 / 1."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hjepa.ssl import (
    LUMA_WEIGHTS,
    ViewPair,
    ViewRecipe,
    byol_views,
    color_jitter,
    digit_views,
    gaussian_blur,
    horizontal_flip,
    lejepa_views,
    random_grayscale,
    random_resized_crop,
    simclr_views,
    simsiam_views,
    solarize,
)
from hjepa.ssl.augment import _shift_hue


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(channels: int = 3, batch: int = 6, size: int = 12, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=gen(seed), dtype=dtype)


# Every augmentation at settings where it applies to (almost) every sample.
OPS = {
    "crop": lambda x, g: random_resized_crop(x, 8, generator=g),
    "flip": lambda x, g: horizontal_flip(x, 0.5, generator=g),
    "jitter": lambda x, g: color_jitter(x, p=1.0, generator=g),
    "grayscale": lambda x, g: random_grayscale(x, 0.5, generator=g),
    "blur": lambda x, g: gaussian_blur(x, 1.0, generator=g),
    "solarize": lambda x, g: solarize(x, 0.5, generator=g),
    "recipe": lambda x, g: ViewRecipe(8, blur_p=0.5, solarize_p=0.5)(x, g),
}


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_range_dtype(name, channels, dtype):
    x = images(channels, dtype=dtype)
    out = OPS[name](x, gen())
    expected = 8 if name in ("crop", "recipe") else 12
    assert out.shape == (6, channels, expected, expected)
    assert out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", OPS)
def test_same_seed_same_output_other_seed_differs(name):
    x = images(3)
    first, again, other = OPS[name](x, gen(1)), OPS[name](x, gen(1)), OPS[name](x, gen(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", ["crop", "jitter", "blur"])
def test_parameters_differ_across_the_batch(name):
    x = images(3, batch=1).expand(6, -1, -1, -1).contiguous()  # six copies of one image
    out = OPS[name](x, gen())
    assert all(not torch.allclose(out[0], out[i]) for i in range(1, 6))


def test_p_zero_is_identity():
    x = images(3)
    assert torch.equal(horizontal_flip(x, 0.0, generator=gen()), x)
    assert torch.equal(color_jitter(x, p=0.0, generator=gen()), x)
    assert torch.equal(random_grayscale(x, 0.0, generator=gen()), x)
    assert torch.equal(gaussian_blur(x, 0.0, generator=gen()), x)
    assert torch.equal(solarize(x, 0.0, generator=gen()), x)


def test_flip_p_one_mirrors_every_image():
    x = images(3)
    assert torch.equal(horizontal_flip(x, 1.0, generator=gen()), x.flip(-1))


def test_flip_half_flips_some_and_keeps_others():
    x = images(1, batch=64)
    out = horizontal_flip(x, 0.5, generator=gen())
    flipped = torch.tensor([torch.equal(o, f) for o, f in zip(out, x.flip(-1))])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert torch.all(flipped | kept) and 10 < flipped.sum() < 54


def test_solarize_p_one_matches_hand_computation():
    x = images(3)
    expected = torch.where(x >= 0.3, 1 - x, x)
    assert torch.equal(solarize(x, 1.0, threshold=0.3, generator=gen()), expected)


def test_grayscale_p_one_uses_luma_weights_and_keeps_channels():
    x = images(3)
    out = random_grayscale(x, 1.0, generator=gen())
    luma = LUMA_WEIGHTS[0] * x[:, 0] + LUMA_WEIGHTS[1] * x[:, 1] + LUMA_WEIGHTS[2] * x[:, 2]
    assert out.shape == x.shape
    for c in range(3):
        torch.testing.assert_close(out[:, c], luma)
    assert torch.equal(random_grayscale(images(1), 1.0, generator=gen()), images(1))


def test_full_square_crop_is_identity():
    x = images(3, size=10)
    out = random_resized_crop(x, 10, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=gen())
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_crop_resizes_to_any_size():
    x = images(1, size=28)
    assert random_resized_crop(x, 16, scale=(0.3, 1.0), generator=gen()).shape == (6, 1, 16, 16)


def test_blur_keeps_constant_image_and_smooths_noise():
    const = torch.full((4, 3, 16, 16), 0.37)
    torch.testing.assert_close(gaussian_blur(const, 1.0, sigma=(0.5, 2.0), generator=gen()), const)
    noise = images(1, batch=4, size=16)
    blurred = gaussian_blur(noise, 1.0, sigma=(1.0, 2.0), generator=gen())
    assert torch.all(blurred.var(dim=(1, 2, 3)) < 0.5 * noise.var(dim=(1, 2, 3)))
    torch.testing.assert_close(blurred.mean(), noise.mean(), atol=0.02, rtol=0)


def test_blur_explicit_kernel_size():
    x = images(3, size=16)
    out = gaussian_blur(x, 1.0, sigma=(1.0, 1.0), kernel_size=5, generator=gen())
    # Same sigma for everyone: every channel of every image got the same kernel.
    single = gaussian_blur(x[:1], 1.0, sigma=(1.0, 1.0), kernel_size=5, generator=gen())
    torch.testing.assert_close(out[:1], single)


def test_brightness_only_jitter_scales_each_image_by_one_factor():
    x = images(1) * 0.5  # no clipping at factors <= 2
    out = color_jitter(x, brightness=0.5, contrast=0.0, saturation=0.0, hue=0.0, p=1.0, generator=gen())
    ratio = out / x
    factors = ratio.flatten(1)
    torch.testing.assert_close(factors, factors[:, :1].expand_as(factors))
    assert torch.all((factors >= 0.5 - 1e-6) & (factors <= 1.5 + 1e-6))
    assert factors[:, 0].unique().numel() == x.shape[0]


def test_hue_rotation_in_hsv():
    primaries = torch.eye(3).view(3, 3, 1, 1)  # red, green, blue pixels
    turned = _shift_hue(primaries, torch.full((3,), 1 / 3))
    torch.testing.assert_close(turned, primaries.roll(-1, dims=0))  # red -> green, green -> blue, blue -> red
    x = images(3)
    torch.testing.assert_close(_shift_hue(x, torch.zeros(6)), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(_shift_hue(_shift_hue(x, torch.full((6,), 0.2)), torch.full((6,), -0.2)), x)


def test_jitter_leaves_gray_pixels_gray():
    x = images(1).expand(-1, 3, -1, -1).contiguous()
    out = color_jitter(x, p=1.0, generator=gen())
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 1], out[:, 2], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: solarize(torch.rand(3, 8, 8), 0.5), "B, C, H, W"),
        (lambda: solarize(torch.rand(2, 2, 8, 8), 0.5), "1 or 3 channels"),
        (lambda: solarize(torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8), 0.5), "float"),
        (lambda: solarize(torch.rand(2, 3, 8, 8) * 255, 0.5), r"\[0, 1\]"),
        (lambda: horizontal_flip(torch.rand(2, 3, 8, 8), 1.5), "p must be"),
        (lambda: random_resized_crop(torch.rand(2, 3, 8, 8), 4, scale=(0.5, 0.2)), "scale"),
        (lambda: color_jitter(torch.rand(2, 3, 8, 8), hue=0.7), "hue"),
        (lambda: gaussian_blur(torch.rand(2, 3, 8, 8), 1.0, kernel_size=4), "odd"),
        (lambda: gaussian_blur(torch.rand(2, 3, 8, 8), 1.0, kernel_size=17), "too large"),
        (lambda: ViewRecipe(8, blur_p=2.0), "blur_p"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_recipe_is_frozen_and_pair_gives_two_different_views():
    pair = byol_views(16)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.first.size = 8  # type: ignore[misc]
    a, b = pair(images(3, size=20), gen())
    assert a.shape == b.shape == (6, 3, 16, 16)
    assert not torch.equal(a, b)


def test_method_recipes():
    byol = byol_views(32)
    assert (byol.first.blur_p, byol.second.blur_p) == (1.0, 0.1)
    assert (byol.first.solarize_p, byol.second.solarize_p) == (0.0, 0.2)
    for pair in (simclr_views(32), simsiam_views(32)):
        assert isinstance(pair, ViewPair) and pair.first == pair.second
    assert simsiam_views(32).first.crop_scale == (0.2, 1.0)
    lejepa = lejepa_views(32)
    assert isinstance(lejepa, ViewRecipe)
    x = images(3, size=32)
    for recipe in (byol.first, byol.second, simclr_views(32).first, simsiam_views(32).first, lejepa):
        assert recipe(x, gen()).shape == (6, 3, 32, 32)


def test_digit_views_never_flip_and_work_on_grayscale():
    pair = digit_views(28)
    assert pair.first.flip_p == 0.0 and pair.first.crop_scale == (0.3, 1.0)
    assert pair.first.saturation == pair.first.hue == 0.0
    a, b = pair(images(1, size=28), gen())
    assert a.shape == b.shape == (6, 1, 28, 28)
