"""Self-supervised optical-flow losses (MC-JEPA's flow objective), pure functions.

Bardes, Ponce & LeCun, "MC-JEPA: A Joint-Embedding Predictive Architecture for Self-Supervised
Learning of Motion and Content Features", 2023. No ground-truth flow is used: a flow is good when
warping the second frame (or its features) by it reconstructs the first, and flows are smooth
except at image edges.

* ``photometric_loss``: Charbonnier penalty ``sqrt(d^2 + eps^2)`` between frame 1 and frame 2
  warped by the flow, over the pixels whose target lies inside frame 2.
* ``feature_reconstruction_loss``: mean squared error between frame 1's feature map and frame
  2's warped by the flow (same mask): the "feature regression" of MC-JEPA, which needs a
  variance-covariance regulariser on the features (``hjepa.objectives.vc_regularizer``) to keep
  them from collapsing to a constant that any flow reconstructs.
* ``smoothness_loss``: first-order, edge-aware: ``|grad flow| * exp(-edge_weight * |grad image|)``.

Flows are ``(B, 2, h, w)`` in pixels of the tensor they warp (``hjepa.nn.flow`` conventions).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.nn.flow import in_bounds, warp


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values (B, C, h, w)`` over pixels where ``mask (B, 1, h, w)`` is 1 (0 if none)."""
    weight = mask.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def photometric_loss(frame1: Tensor, frame2: Tensor, flow: Tensor, eps: float = 1e-3) -> Tensor:
    """Charbonnier reconstruction error of ``frame1`` by ``warp(frame2, flow)``.

    frame1, frame2 (B, C, H, W), flow (B, 2, H, W) in pixels -> scalar (0 for a perfect flow).
    """
    if frame1.shape != frame2.shape:
        raise InputError(f"frames must have the same shape, got {tuple(frame1.shape)} and {tuple(frame2.shape)}")
    difference = frame1 - warp(frame2, flow)
    return _masked_mean(torch.sqrt(difference.pow(2) + eps**2), in_bounds(flow))


def feature_reconstruction_loss(features1: Tensor, features2: Tensor, flow: Tensor) -> Tensor:
    """Mean squared error between ``features1`` and ``warp(features2, flow)`` per channel and pixel.

    features (B, C, h, w), flow (B, 2, h, w) in cells of the feature map -> scalar.
    """
    if features1.shape != features2.shape:
        raise InputError(f"feature maps must have the same shape, got {tuple(features1.shape)} and "
                         f"{tuple(features2.shape)}")
    return _masked_mean((features1 - warp(features2, flow)).pow(2), in_bounds(flow))


def smoothness_loss(flow: Tensor, image: Tensor, edge_weight: float = 10.0) -> Tensor:
    """Edge-aware first-order smoothness of ``flow (B, 2, H, W)`` given ``image (B, C, H, W)`` -> scalar.

    Mean over neighbouring pixel pairs (horizontal and vertical) of ``|flow difference|`` summed
    over the two components, times ``exp(-edge_weight * mean_c |image difference|)``.
    """
    if flow.shape[0] != image.shape[0] or flow.shape[-2:] != image.shape[-2:] or flow.shape[1] != 2:
        raise InputError(f"flow (B, 2, H, W) and image (B, C, H, W) must agree, got {tuple(flow.shape)}, "
                         f"{tuple(image.shape)}")
    flow_dx = (flow[..., :, 1:] - flow[..., :, :-1]).abs().sum(dim=1)  # (B, H, W - 1)
    flow_dy = (flow[..., 1:, :] - flow[..., :-1, :]).abs().sum(dim=1)  # (B, H - 1, W)
    image_dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=1)
    image_dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=1)
    return 0.5 * ((flow_dx * torch.exp(-edge_weight * image_dx)).mean()
                  + (flow_dy * torch.exp(-edge_weight * image_dy)).mean())
