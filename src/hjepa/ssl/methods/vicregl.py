"""VICRegL: VICReg on global vectors plus VICReg on matched local feature-map vectors.

Bardes, Ponce & LeCun, "VICRegL: Self-Supervised Learning of Local Visual Features",
NeurIPS 2022.

Inputs come from ``hjepa.ssl.boxed_views.BoxedViews``: ``[view_a, view_b, boxes_a (B, 4),
boxes_b (B, 4)]``. For each view, one backbone pass gives its feature map ``(B, D, h, w)``
(``hjepa.ssl.feature_maps``); then

* global: the map's spatial mean (the backbone's usual output) -> expander -> ``vicreg_loss``,
  exactly as ``VICReg``;
* local: every cell's vector -> a per-location expander (an MLP shared by all cells) ->
  ``local_vicreg_loss`` (``hjepa.objectives.local``), which pairs cells of the two views by
  position in the original image (from the boxes) and by nearest embedding;

::

    loss = alpha * global + (1 - alpha) * local

The paper's trade-off: ``alpha = 0.9`` keeps nearly all of VICReg's classification accuracy,
``alpha = 0.75`` gains more on segmentation. ``alpha = 1`` is VICReg (the local branch is still
computed and logged, with no weight).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.heads import projector
from hjepa.objectives import VICRegLoss
from hjepa.objectives.local import local_vicreg_loss
from hjepa.ssl.boxed_views import box_points
from hjepa.ssl.feature_maps import feature_map, has_feature_map
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim


class VICRegL(SSLMethod):
    """VICReg with VICRegL's local term.

    Args:
        backbone: a ``SmallConvNet``, ``ResNet`` or ``ViT`` (a backbone with a feature map).
        projector_dims: global expander widths (as ``VICReg``).
        local_projector_dims: per-location expander widths; the last is the local embedding size.
        alpha: weight of the global loss, in ``[0, 1]`` (paper: 0.9 or 0.75).
        match_fraction: fraction of the cells kept as matched pairs per direction (the paper
            keeps 20 of 49 cells of a 7 x 7 map), ``num_matches = max(1, round(fraction * h * w))``.
        inv_weight, var_weight, cov_weight: VICReg's weights (25, 25, 1), for both terms.

    ``forward([view_a, view_b, boxes_a, boxes_b])`` -> ``MethodOutput`` with terms ``global``
    and ``local`` (weighted totals), ``invariance``, ``variance``, ``covariance`` (global, as
    VICReg), ``local_location``, ``local_feature``, ``local_variance``, ``local_covariance``
    (unweighted) and ``std``; features ``(B, D)`` (pooled map of view a), embeddings ``(B, E)``.
    """

    def __init__(self, backbone: nn.Module, projector_dims: Sequence[int] = (2048, 2048, 2048),
                 local_projector_dims: Sequence[int] = (512, 512), alpha: float = 0.75,
                 match_fraction: float = 0.4, inv_weight: float = 25.0, var_weight: float = 25.0,
                 cov_weight: float = 1.0) -> None:
        super().__init__(backbone, num_views=4)
        if not has_feature_map(backbone):
            raise InputError(
                f"VICRegL needs a backbone with a feature map (convnet, resnet18 or vit), got {type(backbone).__name__}"
            )
        if not 0.0 <= alpha <= 1.0:
            raise InputError(f"alpha must be in [0, 1], got {alpha}")
        if not 0.0 < match_fraction <= 1.0:
            raise InputError(f"match_fraction must be in (0, 1], got {match_fraction}")
        weights = {"inv_weight": inv_weight, "var_weight": var_weight, "cov_weight": cov_weight}
        if any(value < 0 for value in weights.values()) or not any(value > 0 for value in weights.values()):
            raise InputError(f"VICReg weights must be >= 0 with one > 0, got {weights}")
        dim = feature_dim(backbone)
        self.projector = projector(dim, tuple(projector_dims))
        self.local_projector = projector(dim, tuple(local_projector_dims))
        self.loss_fn = VICRegLoss(inv_weight, var_weight, cov_weight)
        self.alpha = alpha
        self.match_fraction = match_fraction

    def _encode(self, view: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """-> pooled features (B, D), local embeddings (B, h*w, E_l), cell centres (B, h*w, 2)."""
        fmap = feature_map(self.backbone, view)  # (B, D, h, w)
        b, d, h, w = fmap.shape
        cells = fmap.flatten(2).transpose(1, 2)  # (B, h*w, D)
        local = self.local_projector(cells.reshape(b * h * w, d)).view(b, h * w, -1)
        return fmap.mean(dim=(2, 3)), local, box_points(boxes.to(fmap.dtype), h, w)

    def forward(self, views: list[Tensor]) -> MethodOutput:
        view_a, view_b, boxes_a, boxes_b = self.check_views(views)
        for i, boxes in ((2, boxes_a), (3, boxes_b)):
            if boxes.dim() != 2 or boxes.shape[1] != 4:
                raise InputError(
                    f"VICRegL: view {i} must be crop boxes (B, 4) (make views with "
                    f"hjepa.ssl.boxed_views.BoxedViews), got {tuple(boxes.shape)}"
                )
        h_a, local_a, points_a = self._encode(view_a, boxes_a)
        h_b, local_b, points_b = self._encode(view_b, boxes_b)
        z_a, z_b = self.projector(h_a), self.projector(h_b)
        glob = self.loss_fn(z_a, z_b)
        cells = min(local_a.shape[1], local_b.shape[1])
        num_matches = max(1, round(self.match_fraction * cells))
        loc = local_vicreg_loss(local_a, local_b, points_a, points_b, num_matches, self.loss_fn.inv_weight,
                                self.loss_fn.var_weight, self.loss_fn.cov_weight)
        loss = self.alpha * glob.total + (1.0 - self.alpha) * loc.total
        terms = {
            "global": glob.total.detach(), "local": loc.total.detach(),
            "invariance": glob.invariance.detach(), "variance": glob.variance.detach(),
            "covariance": glob.covariance.detach(),
            "local_location": loc.location.detach(), "local_feature": loc.feature.detach(),
            "local_variance": loc.variance.detach(), "local_covariance": loc.covariance.detach(),
            "std": collapse_std(z_a),
        }
        return MethodOutput(loss, terms, h_a.detach(), z_a.detach())

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, match_fraction={self.match_fraction}"
