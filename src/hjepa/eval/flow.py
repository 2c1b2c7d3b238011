"""Optical-flow evaluation: end-point error, and a classical baseline (pyramidal Lucas-Kanade).

* ``end_point_error``: the standard flow metric, the Euclidean distance between the estimated and
  the true flow vector of each pixel, averaged (optionally over a mask, e.g. the moving object).
* ``lucas_kanade``: Lucas & Kanade (1981), coarse to fine (Bouguet's pyramidal scheme) in
  torch, batched: at each level of an image pyramid and for a few iterations, frame 2 is warped
  by the current flow and the flow is updated by the least-squares solution of the linearised
  brightness constancy ``I_x du + I_y dv + I_t = 0`` over a Gaussian window around every pixel.
  No learning: the baseline a learned flow should beat.

Flow conventions are those of ``hjepa.nn.flow`` (``(dx, dy)`` in pixels of frame 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from hjepa.errors import InputError
from hjepa.nn.flow import resize_flow, warp


def end_point_error(flow: Tensor, true_flow: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean ``|| flow(p) - true_flow(p) ||_2`` over pixels (and images).

    Args:
        flow, true_flow: ``(B, 2, H, W)``.
        mask: optional ``bool (B, H, W)``: average over the pixels where it is true only.
    Returns:
        scalar tensor (NaN when the mask selects no pixel).
    """
    if flow.shape != true_flow.shape or flow.dim() != 4 or flow.shape[1] != 2:
        raise InputError(f"flow and true_flow must both be (B, 2, H, W), got {tuple(flow.shape)}, {tuple(true_flow.shape)}")
    if not (torch.isfinite(flow).all() and torch.isfinite(true_flow).all()):
        raise InputError("flow or true_flow contains NaN or inf")
    error = (flow - true_flow).pow(2).sum(dim=1).sqrt()  # (B, H, W)
    if mask is None:
        return error.mean()
    if mask.shape != error.shape or mask.dtype != torch.bool:
        raise InputError(f"mask must be bool {tuple(error.shape)}, got {mask.dtype} {tuple(mask.shape)}")
    return error[mask].mean() if mask.any() else error.new_tensor(float("nan"))


def _gaussian_window(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian filter of ``x (B, C, H, W)``, reflect padding."""
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    pad_h, pad_w = min(radius, x.shape[-2] - 1), min(radius, x.shape[-1] - 1)
    x = F.pad(x, (pad_w, pad_w, 0, 0), mode="reflect" if pad_w > 0 else "replicate")
    x = F.conv2d(x, kernel[radius - pad_w : radius + pad_w + 1].view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.pad(x, (0, 0, pad_h, pad_h), mode="reflect" if pad_h > 0 else "replicate")
    return F.conv2d(x, kernel[radius - pad_h : radius + pad_h + 1].view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences of ``x (B, 1, H, W)`` (one-sided at the border): ``(I_x, I_y)``."""
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = 0.5 * (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2])
    gy = 0.5 * (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1])
    return gx, gy


def lucas_kanade(frame1: Tensor, frame2: Tensor, levels: int = 3, iterations: int = 5, window_sigma: float = 1.5,
                 ridge: float = 1e-4, max_step: float = 1.0) -> Tensor:
    """Pyramidal Lucas-Kanade flow of frame 1 to frame 2.

    Args:
        frame1, frame2: ``(B, C, H, W)`` (colour is averaged to grey).
        levels: pyramid levels (each halves the resolution by 2x2 averaging); displacements up to
            about ``2^levels`` pixels can be recovered.
        iterations: warping iterations per level.
        window_sigma: standard deviation of the Gaussian window, in pixels of each level.
        ridge: added to the diagonal of each 2x2 system (flat regions get small updates).
        max_step: the largest update of one iteration per component, in pixels of the level.
    Returns:
        flow ``(B, 2, H, W)`` in pixels.
    """
    if frame1.shape != frame2.shape or frame1.dim() != 4:
        raise InputError(f"frames must be (B, C, H, W) of the same shape, got {tuple(frame1.shape)}, {tuple(frame2.shape)}")
    if levels < 1 or iterations < 1 or window_sigma <= 0 or ridge < 0 or max_step <= 0:
        raise InputError(f"need levels, iterations >= 1, window_sigma, max_step > 0, ridge >= 0; got {levels}, "
                         f"{iterations}, {window_sigma}, {ridge}, {max_step}")
    pyramid1, pyramid2 = [frame1.float().mean(dim=1, keepdim=True)], [frame2.float().mean(dim=1, keepdim=True)]
    for _ in range(levels - 1):
        if min(pyramid1[-1].shape[-2:]) < 4:
            break
        pyramid1.append(F.avg_pool2d(pyramid1[-1], 2, ceil_mode=True))
        pyramid2.append(F.avg_pool2d(pyramid2[-1], 2, ceil_mode=True))
    flow = None
    for image1, image2 in zip(reversed(pyramid1), reversed(pyramid2)):
        h, w = image1.shape[-2:]
        if flow is None:
            flow = image1.new_zeros(image1.shape[0], 2, h, w)
        else:  # to this level's pixels: the image is twice as large
            scale = torch.tensor([w / flow.shape[-1], h / flow.shape[-2]], device=flow.device).view(1, 2, 1, 1)
            flow = resize_flow(flow, (h, w)) * scale
        gx1, gy1 = _gradients(image1)
        for _ in range(iterations):
            warped = warp(image2, flow, padding_mode="border")
            gx2, gy2 = _gradients(warped)
            gx, gy, gt = 0.5 * (gx1 + gx2), 0.5 * (gy1 + gy2), warped - image1
            sums = _gaussian_window(torch.cat([gx * gx, gx * gy, gy * gy, gx * gt, gy * gt], dim=1), window_sigma)
            sxx, sxy, syy = sums[:, 0] + ridge, sums[:, 1], sums[:, 2] + ridge
            bx, by = -sums[:, 3], -sums[:, 4]
            det = (sxx * syy - sxy * sxy).clamp_min(1e-12)
            du = (syy * bx - sxy * by) / det
            dv = (sxx * by - sxy * bx) / det
            flow = flow + torch.stack([du, dv], dim=1).clamp(-max_step, max_step)
    return flow
