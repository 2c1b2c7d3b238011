"""SimSiam: a siamese network with a predictor and a stop-gradient, no negatives, no momentum.

Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021.

Both views go through the same backbone and projector (``z``) and a predictor (``p``); the loss
is the symmetric negative cosine similarity with the gradient stopped on ``z``::

    loss = (simsiam_loss(p_a, sg(z_b)) + simsiam_loss(p_b, sg(z_a))) / 2      (in [-1, 1])

Ablations:

* ``use_predictor=False`` (``p = z``) and ``stop_gradient=False`` both make SimSiam collapse
  (paper, Sec. 4.1 and Table 1): the ``std`` term (``collapse_std`` of ``z``) goes to 0.
* ``vc_weight > 0`` adds ``vc_weight * vc_penalty(z_a, z_b)`` on the projector outputs
  (VICReg's ``25 * variance + 1 * covariance``, averaged over the views, scaled by
  ``vc_weight``), which prevents those collapses (the VICReg paper's table on adding variance
  and covariance regularisation to BYOL and SimSiam). Around 0.04 (variance weight 1) puts it on
  the scale of the cosine loss.

Each view is encoded in its own pass (per-view BatchNorm statistics), as in the paper's code.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.heads import prediction_head, projector
from hjepa.objectives import simsiam_loss
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim, vc_penalty


class SimSiam(SSLMethod):
    """SimSiam, with switches for its two collapse ablations and VICReg's VC regulariser.

    Args:
        backbone: images ``(B, C, H, W) -> (B, F)`` with ``out_dim = F``.
        projector_dims: projector widths; the last is ``E`` (paper: 2048, three layers).
        predictor_hidden: bottleneck width of the predictor ``E -> predictor_hidden -> E``
            (paper: 512 for ``E = 2048``).
        use_predictor: keep the predictor (``False``: ``p = z``).
        stop_gradient: detach the targets ``z`` (``False``: gradient flows through both sides).
        vc_weight: scale of the variance-covariance regulariser on ``z``, ``>= 0`` (``0``: off).

    ``forward([view_a, view_b])``, each ``(B, C, H, W)`` -> ``MethodOutput`` with terms
    ``similarity`` (the symmetric negative cosine), ``vc`` (unweighted, only when
    ``vc_weight > 0``) and ``std``; features ``(B, F)``, embeddings ``(B, E)`` (projector, not
    predictor).
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector_dims: Sequence[int] = (2048, 2048),
        predictor_hidden: int = 512,
        use_predictor: bool = True,
        stop_gradient: bool = True,
        vc_weight: float = 0.0,
    ) -> None:
        super().__init__(backbone, num_views=2)
        if vc_weight < 0:
            raise InputError(f"vc_weight must be >= 0 (0 switches the regulariser off), got {vc_weight}")
        dims = tuple(projector_dims)
        self.projector = projector(feature_dim(backbone), dims)
        self.predictor = prediction_head(dims[-1], predictor_hidden) if use_predictor else None
        self.use_predictor = use_predictor
        self.stop_gradient = stop_gradient
        self.vc_weight = vc_weight

    def _predict(self, z: Tensor) -> Tensor:
        return z if self.predictor is None else self.predictor(z)

    def forward(self, views: list[Tensor]) -> MethodOutput:
        view_a, view_b = self.check_views(views)
        h_a, h_b = self.backbone(view_a), self.backbone(view_b)
        z_a, z_b = self.projector(h_a), self.projector(h_b)
        p_a, p_b = self._predict(z_a), self._predict(z_b)
        similarity = 0.5 * (
            simsiam_loss(p_a, z_b, self.stop_gradient) + simsiam_loss(p_b, z_a, self.stop_gradient)
        )
        loss = similarity
        logged = {"similarity": similarity.detach()}
        if self.vc_weight > 0:
            vc = vc_penalty(z_a, z_b)
            loss = loss + self.vc_weight * vc
            logged["vc"] = vc.detach()
        logged["std"] = collapse_std(z_a)
        return MethodOutput(loss, logged, h_a.detach(), z_a.detach())

    def extra_repr(self) -> str:
        return (
            f"num_views={self.num_views}, use_predictor={self.use_predictor}, "
            f"stop_gradient={self.stop_gradient}, vc_weight={self.vc_weight}"
        )
