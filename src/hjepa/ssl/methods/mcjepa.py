"""MC-JEPA: one encoder learning content (VICReg on images) and motion (self-supervised flow) at once.

Bardes, Ponce & LeCun, "MC-JEPA: A Joint-Embedding Predictive Architecture for Self-Supervised
Learning of Motion and Content Features", 2023.

Input: ``[content_a, content_b, frame1, frame2, true_flow]`` from ``hjepa.ssl.flow_views.FlowViews``.
The shared ``SmallConvNet``:

* content: its pooled features of the two content views -> expander -> VICReg;
* motion: its feature pyramid of each frame (``hjepa.ssl.feature_pyramid``) -> a coarse-to-fine
  ``FlowEstimator`` (``hjepa.nn.flow``) on the ``flow_levels`` coarsest levels (all by default), trained without
  labels (``hjepa.objectives.flow``): at every level, the photometric error of frame 1
  reconstructed from frame 2 warped by that level's flow (upsampled to the image), and the error
  of frame 1's features reconstructed from frame 2's warped features; edge-aware smoothness of
  the finest flow; and VICReg's variance-covariance regulariser on the cell vectors of every
  level, which keeps the features from collapsing to a constant that any flow reconstructs::

    flow_loss = photometric_weight * photometric + feature_weight * feature
                + smoothness_weight * smoothness + pyramid_vc_weight * pyramid_vc
    loss      = content_weight * vicreg + flow_weight * flow_loss

Both objectives train the encoder. ``true_flow`` is only used for the logged ``epe`` term.
Forward-backward consistency (optional in the paper) is not implemented.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.convnet import SmallConvNet
from hjepa.nn.flow import FlowEstimator, resize_flow
from hjepa.nn.heads import projector
from hjepa.objectives import VICRegLoss, vc_regularizer
from hjepa.objectives.flow import feature_reconstruction_loss, photometric_loss, smoothness_loss
from hjepa.ssl.feature_pyramid import feature_pyramid, pyramid_channels
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim


class MCJEPA(SSLMethod):
    """Motion and content from one ``SmallConvNet``.

    Args:
        backbone: a ``SmallConvNet`` (its pyramid feeds the flow estimator).
        projector_dims: content expander widths (as VICReg).
        flow_levels: how many pyramid levels, from the coarsest, the flow is estimated on (the
            finest flow is then upsampled to the image); ``None``: all of them, down to the stem's
            full-resolution map. Measured on moving digits (flow only, 300 steps of 64): the 3
            coarsest levels (finest 14 px for 28 px frames) give 1.63 px end-point error, all 4
            give 1.54, because the background next to the digit takes the digit's motion when a
            flow cell is 2 x 2 pixels.
        flow_hidden, flow_radius: the estimator's width and correlation radius (cells).
        content_weight, flow_weight: the two objectives' weights.
        photometric_weight, feature_weight, smoothness_weight, pyramid_vc_weight: the flow terms.
            ``smoothness_weight`` 0.02 (measured as above, 4 levels: 1.0 -> 1.54 px, 0.1 -> 1.41,
            0.02 -> 1.41): a strong smoothness term spreads the digit's motion over its
            neighbourhood, while textured backgrounds need little of it.
        vc_rows: at most this many cell vectors per level enter the variance-covariance term.

    ``forward(views)`` -> ``MethodOutput`` with terms ``invariance``, ``variance``, ``covariance``
    (content, unweighted), ``content``, ``flow`` (weighted totals), ``photometric``, ``feature``,
    ``smoothness``, ``pyramid_vc``, ``epe`` (end-point error of the finest flow against the true
    flow, logged only) and ``std``; features ``(B, F)`` of content view a; embeddings ``(B, E)``.
    """

    def __init__(self, backbone: nn.Module, projector_dims: Sequence[int] = (2048, 2048, 2048),
                 flow_levels: int | None = None,
                 flow_hidden: int = 32, flow_radius: int = 2, content_weight: float = 1.0, flow_weight: float = 1.0,
                 photometric_weight: float = 10.0, feature_weight: float = 1.0, smoothness_weight: float = 0.02,
                 pyramid_vc_weight: float = 0.04, vc_rows: int = 2048) -> None:
        super().__init__(backbone, num_views=5)
        if not isinstance(backbone, SmallConvNet):
            raise InputError(f"MC-JEPA needs a SmallConvNet backbone (--backbone convnet), got {type(backbone).__name__}")
        channels = pyramid_channels(backbone)
        flow_levels = len(channels) if flow_levels is None else flow_levels
        if not 1 <= flow_levels <= len(channels):
            raise InputError(f"flow_levels must be in [1, {len(channels)}] (the pyramid's levels), got {flow_levels}")
        weights = {"content_weight": content_weight, "flow_weight": flow_weight, "photometric_weight": photometric_weight,
                   "feature_weight": feature_weight, "smoothness_weight": smoothness_weight,
                   "pyramid_vc_weight": pyramid_vc_weight}
        if any(value < 0 for value in weights.values()):
            raise InputError(f"MC-JEPA weights must be >= 0, got {weights}")
        if vc_rows < 2:
            raise InputError(f"vc_rows must be >= 2, got {vc_rows}")
        self.projector = projector(feature_dim(backbone), tuple(projector_dims))
        self.loss_fn = VICRegLoss(25.0, 25.0, 1.0)
        self.flow_levels = flow_levels
        self.estimator = FlowEstimator(list(reversed(channels[-flow_levels:])), flow_hidden, flow_radius)
        self.weights = weights
        self.vc_rows = vc_rows

    def _coarse_first(self, frames: Tensor) -> list[Tensor]:
        return list(reversed(feature_pyramid(self.backbone, frames)[-self.flow_levels:]))

    def flows(self, frame1: Tensor, frame2: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """``(flows coarsest first (B, 2, h_l, w_l) in image pixels, pyramid 1, pyramid 2)``."""
        if frame1.shape != frame2.shape or frame1.dim() != 4 or frame1.shape[-1] != frame1.shape[-2]:
            raise InputError(f"frames must be square (B, C, S, S) of the same shape, got {tuple(frame1.shape)}, "
                             f"{tuple(frame2.shape)}")
        pyramid1, pyramid2 = self._coarse_first(frame1), self._coarse_first(frame2)
        return self.estimator(pyramid1, pyramid2, frame1.shape[-1]), pyramid1, pyramid2

    def estimate_flow(self, frame1: Tensor, frame2: Tensor) -> Tensor:
        """The finest flow upsampled to the frames: ``(B, 1, S, S) x 2 -> (B, 2, S, S)`` in pixels."""
        flows, _, _ = self.flows(frame1, frame2)
        return resize_flow(flows[-1], tuple(frame1.shape[-2:]))

    def _pyramid_vc(self, level: Tensor) -> Tensor:
        cells = level.flatten(2).transpose(1, 2).reshape(-1, level.shape[1])  # (B * h * w, C)
        stride = max(1, cells.shape[0] // self.vc_rows)
        return vc_regularizer(cells[::stride][: self.vc_rows])

    def forward(self, views: list[Tensor]) -> MethodOutput:
        content_a, content_b, frame1, frame2, true_flow = self.check_views(views)
        if frame1.dim() != 4 or true_flow.shape != (frame1.shape[0], 2, *frame1.shape[-2:]):
            raise InputError(f"MC-JEPA expects [content_a, content_b, frame1 (B, C, S, S), frame2, true_flow "
                             f"(B, 2, S, S)] (make views with hjepa.ssl.flow_views.FlowViews), got frame "
                             f"{tuple(frame1.shape)} and flow {tuple(true_flow.shape)}")
        h_a, h_b = self.backbone(content_a), self.backbone(content_b)
        z_a, z_b = self.projector(h_a), self.projector(h_b)
        content = self.loss_fn(z_a, z_b)

        size = frame1.shape[-1]
        flows, pyramid1, pyramid2 = self.flows(frame1, frame2)
        full = [resize_flow(flow, (size, size)) for flow in flows]
        photometric = torch.stack([photometric_loss(frame1, frame2, flow) for flow in full]).mean()
        feature = torch.stack([
            feature_reconstruction_loss(f1, f2, flow * (f1.shape[-1] / size))
            for f1, f2, flow in zip(pyramid1, pyramid2, flows)
        ]).mean()
        smoothness = smoothness_loss(full[-1], frame1)
        pyramid_vc = torch.stack([0.5 * (self._pyramid_vc(f1) + self._pyramid_vc(f2))
                                  for f1, f2 in zip(pyramid1, pyramid2)]).mean()
        w = self.weights
        flow_loss = (w["photometric_weight"] * photometric + w["feature_weight"] * feature
                     + w["smoothness_weight"] * smoothness + w["pyramid_vc_weight"] * pyramid_vc)
        loss = w["content_weight"] * content.total + w["flow_weight"] * flow_loss
        with torch.no_grad():  # end_point_error without its input checks: a NaN here is the trainer's to report
            epe = (full[-1].detach().float() - true_flow.float()).pow(2).sum(dim=1).sqrt().mean()
        terms = {
            "invariance": content.invariance.detach(), "variance": content.variance.detach(),
            "covariance": content.covariance.detach(), "content": content.total.detach(), "flow": flow_loss.detach(),
            "photometric": photometric.detach(), "feature": feature.detach(), "smoothness": smoothness.detach(),
            "pyramid_vc": pyramid_vc.detach(), "epe": epe, "std": collapse_std(z_a),
        }
        return MethodOutput(loss, terms, h_a.detach(), z_a.detach())

    def extra_repr(self) -> str:
        return f"flow_levels={self.flow_levels}, " + ", ".join(f"{k}={v}" for k, v in self.weights.items())
