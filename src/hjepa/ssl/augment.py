"""Batched random augmentations: the image operations that self-supervised views are made of.

Every operation takes float images ``x (B, C, H, W)`` with values in [0, 1] and ``C`` in {1, 3},
draws independent random parameters for each sample from the explicit ``generator`` (the global
generator of ``x.device`` when ``None``), and returns a tensor of the same dtype, device and value
range. Nothing loops over samples in Python: per-sample parameters are (B,) tensors broadcast over
the batch. An operation with ``p=0`` returns ``x`` itself and draws no random numbers.

Random numbers are drawn on the generator's device and then moved to ``x.device``, so a CPU
generator also drives augmentations of CUDA images.

:mod:`hjepa.ssl.views` chains them into the view recipes of each method family.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from hjepa.errors import InputError

# ITU-R BT.601 luma weights for R, G, B (the weights PIL uses for "L" images).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


# --- input checks and random draws ------------------------------------------------------------


def _check_images(x: Tensor, op: str) -> None:
    """Raise ValueError unless x is a float (B, C, H, W) batch with C in {1, 3} and values in [0, 1]."""
    if not isinstance(x, Tensor):
        raise InputError(f"{op} expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise InputError(f"{op} expects images (B, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] not in (1, 3):
        raise InputError(f"{op} expects 1 or 3 channels, got C={x.shape[1]} in shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{op} expects float images in [0, 1], got dtype {x.dtype} (use x.float() / 255)")
    if x.numel() > 0:
        lo, hi = torch.aminmax(x)
        if lo < 0 or hi > 1:
            raise InputError(f"{op} expects values in [0, 1], got range [{lo.item():.4g}, {hi.item():.4g}]")


def check_probability(p: float, name: str = "p") -> None:
    if not 0.0 <= p <= 1.0:
        raise InputError(f"{name} must be in [0, 1], got {p}")


def check_range(bounds: tuple[float, float], name: str, low: float, high: float) -> None:
    """Raise unless low <= bounds[0] <= bounds[1] <= high (low excluded when it is 0)."""
    a, b = bounds
    if not (a <= b and a >= low and b <= high and (low != 0.0 or a > 0.0)):
        strict = "<" if low == 0.0 else "<="
        raise InputError(f"{name} must satisfy {low} {strict} lo <= hi <= {high}, got {bounds}")


def _rand(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """One U[0, 1) number per sample: (B,) float32 on x.device."""
    device = generator.device if generator is not None else x.device
    return torch.rand(x.shape[0], generator=generator, device=device).to(x.device)


def _uniform(x: Tensor, low: float, high: float, generator: torch.Generator | None) -> Tensor:
    """One U[low, high) number per sample: (B,) in x.dtype."""
    return (low + (high - low) * _rand(x, generator)).to(x.dtype)


def _coin(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """One Bernoulli(p) draw per sample: (B, 1, 1, 1) bool, ready to broadcast over images."""
    return (_rand(x, generator) < p).view(-1, 1, 1, 1)


def _per_sample(values: Tensor) -> Tensor:
    """(B,) -> (B, 1, 1, 1)."""
    return values.view(-1, 1, 1, 1)


def _luma(x: Tensor) -> Tensor:
    """x (B, C, H, W) -> (B, 1, H, W) luma; the image itself when C == 1."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b).unsqueeze(1).clamp(0, 1)


def _blend(a: Tensor, b: Tensor, factor: Tensor) -> Tensor:
    """factor * a + (1 - factor) * b, clipped to [0, 1]; factor (B,) per sample, b broadcastable."""
    f = _per_sample(factor)
    return (f * a + (1 - f) * b).clamp(0, 1)


# --- geometric ---------------------------------------------------------------------------------


def random_resized_crop(
    x: Tensor,
    size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Crop a random rectangle from every image and resize it to ``size x size`` (bilinear).

    Per sample: area fraction ~ U(scale), aspect ratio w/h log-uniform in ``ratio``, position
    uniform among the placements that keep the crop inside the image. A crop side that would exceed
    the image is clipped to it (instead of re-drawing), so extreme scale/ratio pairs give a
    slightly smaller area or squarer crop. No antialiasing: shrinking a large crop by a big factor
    aliases a little.

    x (B, C, H, W) -> (B, C, size, size).
    """
    _check_images(x, "random_resized_crop")
    if size < 1:
        raise InputError(f"size must be >= 1, got {size}")
    check_range(scale, "scale", 0.0, 1.0)
    check_range(ratio, "ratio", 0.0, math.inf)
    b, c, h, w = x.shape
    area = _uniform(x, scale[0], scale[1], generator) * (h * w)
    aspect = torch.exp(_uniform(x, math.log(ratio[0]), math.log(ratio[1]), generator))
    crop_w = torch.sqrt(area * aspect).clamp(max=w)
    crop_h = torch.sqrt(area / aspect).clamp(max=h)
    centre_x = crop_w / 2 + (w - crop_w) * _uniform(x, 0.0, 1.0, generator)
    centre_y = crop_h / 2 + (h - crop_h) * _uniform(x, 0.0, 1.0, generator)
    # Output pixel (normalised u in [-1, 1]) samples input at u * crop/side + centre offset
    # (align_corners=False: -1 and 1 are the outer edges of the border pixels).
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = crop_w / w
    theta[:, 0, 2] = 2 * centre_x / w - 1
    theta[:, 1, 1] = crop_h / h
    theta[:, 1, 2] = 2 * centre_y / h - 1
    grid = F.affine_grid(theta, [b, c, size, size], align_corners=False)  # (B, size, size, 2)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.clamp(0, 1)


def horizontal_flip(x: Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability ``p``. x (B, C, H, W) -> (B, C, H, W)."""
    _check_images(x, "horizontal_flip")
    check_probability(p)
    if p == 0:
        return x
    return torch.where(_coin(x, p, generator), x.flip(-1), x)


# --- photometric -------------------------------------------------------------------------------


def _rgb_to_hsv(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """x (B, 3, H, W) in [0, 1] -> hue, saturation, value, each (B, H, W) in [0, 1]."""
    r, g, b = x.unbind(1)
    value, _ = x.max(1)
    delta = value - x.min(1).values
    saturation = torch.where(value > 0, delta / value.clamp_min(1e-12), torch.zeros_like(value))
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue6 = torch.where(  # hue in sixths of a turn, per the channel that holds the maximum
        value == r,
        torch.remainder((g - b) / safe, 6),
        torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = torch.where(delta > 0, hue6 / 6, torch.zeros_like(hue6))
    return hue, saturation, value


def _hsv_to_rgb(hue: Tensor, saturation: Tensor, value: Tensor) -> Tensor:
    """hue, saturation, value (B, H, W) in [0, 1] -> RGB (B, 3, H, W).

    Branch-free form: channel n in (5, 3, 1) for (R, G, B) is v - v*s*clip(min(k, 4 - k), 0, 1)
    with k = (n + 6 * hue) mod 6.
    """
    n = torch.tensor([5.0, 3.0, 1.0], dtype=hue.dtype, device=hue.device).view(1, 3, 1, 1)
    k = torch.remainder(n + 6 * hue.unsqueeze(1), 6)  # (B, 3, H, W)
    ramp = torch.minimum(k, 4 - k).clamp(0, 1)
    return (value.unsqueeze(1) - (value * saturation).unsqueeze(1) * ramp).clamp(0, 1)


def _shift_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue of RGB images x (B, 3, H, W) by ``shift`` (B,) turns (1 = full circle)."""
    hue, saturation, value = _rgb_to_hsv(x)
    hue = torch.remainder(hue + shift.view(-1, 1, 1), 1.0)
    return _hsv_to_rgb(hue, saturation, value)


def shift_hue(x: Tensor, turns: Tensor) -> Tensor:
    """Rotate the hue of every RGB image by a known amount (not random: SIE's colour transformation).

    x (B, 3, H, W) in [0, 1], turns (B,) in turns of the colour circle (1 = full circle) ->
    (B, 3, H, W). Saturation and value are kept; grey pixels have no hue and stay unchanged.
    """
    _check_images(x, "shift_hue")
    if x.shape[1] != 3:
        raise InputError(f"shift_hue needs RGB images (B, 3, H, W), got {tuple(x.shape)}")
    if turns.shape != (x.shape[0],):
        raise InputError(f"shift_hue needs one shift per image, turns ({x.shape[0]},), got {tuple(turns.shape)}")
    return _shift_hue(x, turns.to(device=x.device, dtype=x.dtype))


def color_jitter(
    x: Tensor,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.2,
    hue: float = 0.1,
    p: float = 0.8,
    generator: torch.Generator | None = None,
) -> Tensor:
    """With probability ``p`` per image, randomly change brightness, contrast, saturation and hue.

    Per-sample factors: brightness, contrast and saturation ~ U(max(0, 1 - s), 1 + s) for strength
    ``s``; hue shift ~ U(-hue, hue) turns of the colour circle (hue <= 0.5). Applied in the fixed
    order brightness (scale), contrast (blend with the image's mean luma), saturation (blend with
    the per-pixel luma), hue (exact rotation in HSV space, computed in torch), clipping to [0, 1]
    after each. For C == 1 only brightness and contrast apply (there is no colour to change).

    x (B, C, H, W) -> (B, C, H, W).
    """
    _check_images(x, "color_jitter")
    check_probability(p)
    for name, strength in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if strength < 0:
            raise InputError(f"{name} must be >= 0, got {strength}")
    if not 0.0 <= hue <= 0.5:
        raise InputError(f"hue must be in [0, 0.5], got {hue}")
    if p == 0:
        return x
    apply = _coin(x, p, generator)
    # All four factors are drawn for every sample and channel count, so the random stream does
    # not depend on C.
    bright = _uniform(x, max(0.0, 1 - brightness), 1 + brightness, generator)
    contr = _uniform(x, max(0.0, 1 - contrast), 1 + contrast, generator)
    sat = _uniform(x, max(0.0, 1 - saturation), 1 + saturation, generator)
    shift = _uniform(x, -hue, hue, generator)

    out = (x * _per_sample(bright)).clamp(0, 1)
    out = _blend(out, _luma(out).mean(dim=(1, 2, 3), keepdim=True), contr)  # mean luma (B, 1, 1, 1)
    if x.shape[1] == 3:
        out = _blend(out, _luma(out), sat)
        if hue > 0:
            out = _shift_hue(out, shift)
    return torch.where(apply, out, x)


def random_grayscale(x: Tensor, p: float = 0.2, generator: torch.Generator | None = None) -> Tensor:
    """With probability ``p`` per image, replace every channel by the BT.601 luma
    0.299 R + 0.587 G + 0.114 B. Keeps C; a 1-channel batch is returned unchanged.

    x (B, C, H, W) -> (B, C, H, W).
    """
    _check_images(x, "random_grayscale")
    check_probability(p)
    if p == 0 or x.shape[1] == 1:
        return x
    gray = _luma(x).expand_as(x)  # (B, 3, H, W)
    return torch.where(_coin(x, p, generator), gray, x)


def _default_kernel_size(sigma_max: float, height: int, width: int) -> int:
    """Odd kernel covering +-3 sigma, no wider than reflect padding allows (pad < side)."""
    radius = min(max(1, math.ceil(3 * sigma_max)), min(height, width) - 1)
    return 2 * max(radius, 0) + 1


def gaussian_blur(
    x: Tensor,
    p: float,
    sigma: tuple[float, float] = (0.1, 2.0),
    kernel_size: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """With probability ``p`` per image, blur with a Gaussian of per-sample sigma ~ U(sigma) pixels.

    Separable: one horizontal and one vertical 1-D convolution, each a grouped convolution over
    the batch folded into channels, (1, B*C, H, W) with B*C groups, so every image gets its own
    kernel in a single call. Borders are reflect-padded, so a constant image stays constant.
    ``kernel_size`` (odd) defaults to covering +-3 * sigma[1], capped by the image size.

    x (B, C, H, W) -> (B, C, H, W).
    """
    _check_images(x, "gaussian_blur")
    check_probability(p)
    check_range(sigma, "sigma", 0.0, math.inf)
    b, c, h, w = x.shape
    if kernel_size is None:
        kernel_size = _default_kernel_size(sigma[1], h, w)
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be a positive odd int, got {kernel_size}")
    radius = kernel_size // 2
    if radius >= min(h, w):
        raise InputError(
            f"kernel_size {kernel_size} too large for {h}x{w} images (need kernel_size < 2 * min(H, W))"
        )
    if p == 0:
        return x
    apply = _coin(x, p, generator)
    sig = _uniform(x, sigma[0], sigma[1], generator)
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(taps**2) / (2 * sig.view(-1, 1) ** 2))  # (B, k)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, dim=0)  # (B*C, k)
    flat = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(b * c, 1, 1, kernel_size), groups=b * c)  # (1, B*C, H+2r, W)
    flat = F.conv2d(flat, kernel.view(b * c, 1, kernel_size, 1), groups=b * c)  # (1, B*C, H, W)
    blurred = flat.view(b, c, h, w).clamp(0, 1)
    return torch.where(apply, blurred, x)


def solarize(x: Tensor, p: float, threshold: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """With probability ``p`` per image, invert every value >= ``threshold`` (v -> 1 - v).

    x (B, C, H, W) -> (B, C, H, W).
    """
    _check_images(x, "solarize")
    check_probability(p)
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be in [0, 1], got {threshold}")
    if p == 0:
        return x
    solarized = torch.where(x >= threshold, 1 - x, x)
    return torch.where(_coin(x, p, generator), solarized, x)
