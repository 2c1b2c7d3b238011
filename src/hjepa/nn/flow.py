"""Optical flow on feature pyramids: backward warping, local correlation, a coarse-to-fine estimator.

Conventions: a flow ``(B, 2, h, w)`` holds ``(dx, dy)`` per pixel of the *first* frame, ``dx``
to the right, ``dy`` down: pixel ``x`` of frame 1 is found at ``x + flow(x)`` in frame 2. So
``warp(frame2, flow)(x) = frame2(x + flow(x))`` reconstructs frame 1 (backward warping).

``FlowEstimator`` is a small PWC-Net-like head (Sun et al., CVPR 2018, as MC-JEPA uses on its
encoder's pyramid; Bardes, Ponce & LeCun 2023): from the coarsest level to the finest, the
current flow is upsampled, the second frame's features are warped by it, a local correlation
(cost volume) between the first frame's features and the warped ones is computed, and a few
convolutions predict a residual flow. Flows are kept in *image pixels* at every level (a level
of side ``h`` of an ``S`` px image converts them to its own cells by ``h / S`` before warping).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError


def _check_flow(x: Tensor, flow: Tensor) -> None:
    if x.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2 or flow.shape[0] != x.shape[0] \
            or flow.shape[-2:] != x.shape[-2:]:
        raise InputError(f"warp needs x (B, C, h, w) and flow (B, 2, h, w), got {tuple(x.shape)} and {tuple(flow.shape)}")


def warp(x: Tensor, flow: Tensor, padding_mode: str = "zeros") -> Tensor:
    """Backward warping: ``out(p) = x(p + flow(p))``, bilinear; outside ``x``: zeros (or the border
    pixel with ``padding_mode="border"``).

    x (B, C, h, w), flow (B, 2, h, w) in pixels of ``x`` -> (B, C, h, w). A constant integer
    flow ``(dx, dy)`` reads ``x`` shifted by ``(dx, dy)``: ``torch.roll(x, (-dy, -dx), (2, 3))``
    away from the border.
    """
    _check_flow(x, flow)
    b, _, h, w = x.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1) + 0.5
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w) + 0.5
    gx = 2 * (xs + flow[:, 0]) / w - 1  # (B, h, w), align_corners=False coordinates
    gy = 2 * (ys + flow[:, 1]) / h - 1
    grid = torch.stack([gx, gy], dim=-1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def in_bounds(flow: Tensor) -> Tensor:
    """Where ``p + flow(p)`` lies inside the image: ``flow (B, 2, h, w) -> float (B, 1, h, w)`` of 0 / 1."""
    _, _, h, w = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1) + 0.5
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w) + 0.5
    x, y = xs + flow[:, 0], ys + flow[:, 1]
    return ((x >= 0) & (x <= w) & (y >= 0) & (y <= h)).unsqueeze(1).to(flow.dtype)


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resampling of a flow field to ``size`` (values unchanged: flows are in image pixels)."""
    if tuple(flow.shape[-2:]) == tuple(size):
        return flow
    return F.interpolate(flow, size=size, mode="bilinear", align_corners=False)


def local_correlation(f1: Tensor, f2: Tensor, radius: int) -> Tensor:
    """Cost volume: ``out[:, k](p) = <f1(p), f2(p + d_k)> / C`` for the ``(2r + 1)^2`` displacements
    ``d_k`` with ``|dx|, |dy| <= r`` (row-major, ``dy`` outer), zeros outside ``f2``.

    f1, f2 (B, C, h, w) -> (B, (2r + 1)^2, h, w).
    """
    if f1.shape != f2.shape or f1.dim() != 4:
        raise InputError(f"f1 and f2 must have the same shape (B, C, h, w), got {tuple(f1.shape)}, {tuple(f2.shape)}")
    if radius < 0:
        raise InputError(f"radius must be >= 0, got {radius}")
    _, c, h, w = f1.shape
    padded = F.pad(f2, (radius, radius, radius, radius))
    costs = [
        (f1 * padded[:, :, dy : dy + h, dx : dx + w]).sum(dim=1) / c
        for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)
    ]
    return torch.stack(costs, dim=1)


class FlowLevel(nn.Module):
    """One level's residual estimator: ``[correlation, projected f1, flow / S] -> residual flow``."""

    def __init__(self, channels: int, hidden: int, radius: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(channels, hidden, kernel_size=1)
        self.head = nn.Sequential(
            nn.Conv2d((2 * radius + 1) ** 2 + hidden + 2, hidden, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, 2, 3, padding=1),
        )
        nn.init.zeros_(self.head[-1].weight)  # start at zero flow: the zero-flow baseline
        nn.init.zeros_(self.head[-1].bias)
        self.radius = radius

    def forward(self, f1: Tensor, f2: Tensor, flow: Tensor, image_size: int) -> Tensor:
        """f1, f2 (B, C, h, w), flow (B, 2, h, w) in image pixels -> refined flow (B, 2, h, w)."""
        cells = flow * (f1.shape[-1] / image_size)  # image pixels -> this level's cells
        corr = local_correlation(F.normalize(f1, dim=1), F.normalize(warp(f2, cells), dim=1), self.radius)
        x = torch.cat([corr * f1.shape[1], self.project(f1), flow / image_size], dim=1)
        return flow + self.head(x) * (image_size / f1.shape[-1])  # residual predicted in cells


class FlowEstimator(nn.Module):
    """Coarse-to-fine flow from two feature pyramids.

    Args:
        level_channels: channels of each pyramid level, coarsest first.
        hidden: width of each level's estimator.
        radius: correlation radius in cells (the displacement a level can see beyond the
            upsampled flow).

    ``forward(pyramid1, pyramid2, image_size)``: two lists of ``(B, C_l, h_l, w_l)`` maps, coarsest
    first, of images of side ``image_size`` -> list of flows ``(B, 2, h_l, w_l)`` in image pixels,
    coarsest first (the last is the finest estimate).
    """

    def __init__(self, level_channels: Sequence[int], hidden: int = 32, radius: int = 2) -> None:
        super().__init__()
        if not level_channels or min(level_channels) < 1 or hidden < 1 or radius < 0:
            raise InputError(f"need level channels >= 1, hidden >= 1, radius >= 0, got {list(level_channels)}, "
                             f"{hidden}, {radius}")
        self.levels = nn.ModuleList(FlowLevel(c, hidden, radius) for c in level_channels)
        self.level_channels = tuple(level_channels)

    def forward(self, pyramid1: Sequence[Tensor], pyramid2: Sequence[Tensor], image_size: int) -> list[Tensor]:
        if len(pyramid1) != len(self.levels) or len(pyramid2) != len(self.levels):
            raise InputError(f"expected {len(self.levels)} pyramid levels, got {len(pyramid1)} and {len(pyramid2)}")
        flows: list[Tensor] = []
        flow = None
        for level, f1, f2 in zip(self.levels, pyramid1, pyramid2):
            if f1.shape != f2.shape or f1.shape[1] != level.project.in_channels:
                raise InputError(f"pyramid level shapes {tuple(f1.shape)} / {tuple(f2.shape)} do not match "
                                 f"{level.project.in_channels} channels")
            size = tuple(f1.shape[-2:])
            flow = f1.new_zeros(f1.shape[0], 2, *size) if flow is None else resize_flow(flow, size)
            flow = level(f1, f2, flow, image_size)
            flows.append(flow)
        return flows
