"""SIE: a representation split into an invariant part and an equivariant part.

Garrido, Najman & LeCun, "Self-supervised learning of Split Invariant Equivariant
representations", ICML 2023.

Input: ``[view_a, view_b, params (B, P)]`` from ``hjepa.ssl.transform_views.TransformViews``,
``params`` describing the transformation that takes view a to view b. The backbone's features
``h (B, F)`` are split into ``h_inv = h[:, :F_inv]`` and ``h_eq = h[:, F_inv:]``; each part has
its own expander (``z_inv``, ``z_eq``), and

* invariance: ``z_inv`` of the two views should be equal (VICReg's invariance term);
* equivariance: ``z_eq`` of view b should be predicted from ``z_eq`` of view a and the
  transformation by the hypernetwork predictor ``W(params) z_eq`` (``hjepa.nn.hypernet``: ``W``
  linear in ``params`` without bias, the paper's choice, so an invariant ``z_eq`` cannot satisfy it);
* VICReg's variance term on each part and on the predictions ``W(t) z_eq_a`` (the paper's SIE:
  the predictor may not answer with a shrunken, near-constant vector) and its covariance term on
  the whole embedding ``[z_inv, z_eq]`` (both averaged over the views): neither part collapses,
  and the cross-covariance between the parts keeps the equivariant part from duplicating the
  invariant one::

    loss = inv_weight * |z_inv_a - z_inv_b|^2 + pred_weight * |W(t) z_eq_a - z_eq_b|^2
           + var_weight * (var(z_inv) + var(z_eq)) + pred_var_weight * var(W(t) z_eq_a)
           + cov_weight * cov([z_inv, z_eq])

The default weights are the paper's (its ``sim 10``, ``equi-factor 0.45``, ``std 10``, ``cov 1``,
with the variance of the predictions at ``std 10`` too): the prediction term at 0.45 of the
invariance term, the variance terms as strong as the invariance. On ``rotated-digits`` at 300
steps each of the three choices (a predictor linear in ``t``, these weights, the variance of the
predictions) was needed: without any one of them the equivariant part became invariant, or
collapsed, and the predictor did no better than predicting "no change"
(``benchmarks/results/sie_mcjepa_targets.md``).

``features`` is the whole ``h`` of view a; ``encoders()`` exposes the whole backbone and each part
(``"invariant"``, ``"equivariant"``) so the frozen evaluation reads all three.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.heads import projector
from hjepa.nn.hypernet import HyperPredictor
from hjepa.objectives import covariance_loss, variance_loss
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim


class FeatureSlice(nn.Module):
    """``backbone`` restricted to features ``[start, stop)``: images -> ``(B, stop - start)``."""

    def __init__(self, backbone: nn.Module, start: int, stop: int) -> None:
        super().__init__()
        if not 0 <= start < stop <= feature_dim(backbone):
            raise InputError(f"feature slice [{start}, {stop}) outside the backbone's {feature_dim(backbone)} features")
        self.backbone, self.start, self.stop = backbone, start, stop
        self.out_dim = stop - start

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)[:, self.start : self.stop]


class SIE(SSLMethod):
    """Split invariant-equivariant SSL with a hypernetwork predictor.

    Args:
        backbone: images ``(B, C, H, W) -> (B, F)`` with ``out_dim = F``.
        invariant_dim: ``F_inv``, the first features form the invariant part; ``0 < F_inv < F``.
        invariant_dims, equivariant_dims: expander widths of each part (the last is its
            embedding size; the predictor acts on the equivariant embedding, ``D x D`` weights).
        param_dim: size of the transformation parameters.
        identity_params: parameters of the identity transformation (the predictor starts with
            ``W(identity) = I``).
        inv_weight, pred_weight, var_weight, pred_var_weight, cov_weight: the loss weights (module
            docstring; the paper's by default).

    ``forward([view_a, view_b, params])`` -> ``MethodOutput`` with terms ``invariance``,
    ``prediction``, ``prediction_identity`` (the error of predicting ``z_eq_b = z_eq_a``, i.e.
    without the transformation: the predictor earns its keep when ``prediction`` is lower; both
    near 0 means the equivariant part became invariant), ``variance``, ``prediction_variance``,
    ``covariance`` and ``std``; features ``(B, F)``; embeddings ``(B, D_inv + D_eq)``.
    """

    def __init__(self, backbone: nn.Module, invariant_dim: int, invariant_dims: Sequence[int],
                 equivariant_dims: Sequence[int], param_dim: int, identity_params: Sequence[float],
                 inv_weight: float = 10.0, pred_weight: float = 4.5, var_weight: float = 10.0,
                 pred_var_weight: float = 10.0, cov_weight: float = 1.0) -> None:
        super().__init__(backbone, num_views=3)
        dim = feature_dim(backbone)
        if not 0 < invariant_dim < dim:
            raise InputError(f"invariant_dim must be in (0, {dim}) so both parts are non-empty, got {invariant_dim}")
        weights = {"inv_weight": inv_weight, "pred_weight": pred_weight, "var_weight": var_weight,
                   "pred_var_weight": pred_var_weight, "cov_weight": cov_weight}
        if any(value < 0 for value in weights.values()):
            raise InputError(f"SIE loss weights must be >= 0, got {weights}")
        self.invariant_dim = invariant_dim
        self.projector_inv = projector(invariant_dim, tuple(invariant_dims))
        self.projector_eq = projector(dim - invariant_dim, tuple(equivariant_dims))
        self.predictor = HyperPredictor(equivariant_dims[-1], param_dim, identity_params)
        self.inv_weight, self.pred_weight = inv_weight, pred_weight
        self.var_weight, self.pred_var_weight, self.cov_weight = var_weight, pred_var_weight, cov_weight

    def split(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Features ``(B, F)`` -> ``(h_inv (B, F_inv), h_eq (B, F - F_inv))``."""
        return h[:, : self.invariant_dim], h[:, self.invariant_dim :]

    def equivariant_embedding(self, images: Tensor) -> Tensor:
        """``z_eq`` of images: ``(B, C, H, W) -> (B, D_eq)`` (what the predictor acts on)."""
        return self.projector_eq(self.split(self.backbone(images))[1])

    def forward(self, views: list[Tensor]) -> MethodOutput:
        view_a, view_b, params = self.check_views(views)
        if params.dim() != 2 or params.shape[1] != self.predictor.param_dim:
            raise InputError(
                f"SIE: view 2 must be transformation parameters (B, {self.predictor.param_dim}) (make views with "
                f"hjepa.ssl.transform_views.TransformViews), got {tuple(params.shape)}"
            )
        h_a, h_b = self.backbone(view_a), self.backbone(view_b)
        (inv_a, eq_a), (inv_b, eq_b) = self.split(h_a), self.split(h_b)
        zi_a, zi_b = self.projector_inv(inv_a), self.projector_inv(inv_b)
        ze_a, ze_b = self.projector_eq(eq_a), self.projector_eq(eq_b)
        invariance = F.mse_loss(zi_a, zi_b)
        predicted = self.predictor(ze_a, params)
        prediction = F.mse_loss(predicted, ze_b)
        variance = 0.5 * (variance_loss(zi_a) + variance_loss(zi_b) + variance_loss(ze_a) + variance_loss(ze_b))
        prediction_variance = variance_loss(predicted)
        # Covariance over the whole embedding [z_inv, z_eq]: the equivariant part may not repeat
        # (linearly) what the invariant part holds, so it cannot settle for invariant information.
        covariance = 0.5 * (covariance_loss(torch.cat([zi_a, ze_a], dim=1)) + covariance_loss(torch.cat([zi_b, ze_b], dim=1)))
        loss = (self.inv_weight * invariance + self.pred_weight * prediction + self.var_weight * variance
                + self.pred_var_weight * prediction_variance + self.cov_weight * covariance)
        terms = {
            "invariance": invariance.detach(), "prediction": prediction.detach(),
            "prediction_identity": F.mse_loss(ze_a.detach(), ze_b.detach()),
            "variance": variance.detach(), "prediction_variance": prediction_variance.detach(),
            "covariance": covariance.detach(), "std": collapse_std(zi_a),
        }
        return MethodOutput(loss, terms, h_a.detach(), torch.cat([zi_a, ze_a], dim=1).detach())

    def encoders(self) -> dict[str, nn.Module]:
        dim = feature_dim(self.backbone)
        return {"backbone": self.backbone, "invariant": FeatureSlice(self.backbone, 0, self.invariant_dim),
                "equivariant": FeatureSlice(self.backbone, self.invariant_dim, dim)}

    def extra_repr(self) -> str:
        return f"invariant_dim={self.invariant_dim}, pred_weight={self.pred_weight}"

