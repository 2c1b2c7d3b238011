"""BYOL: an online network regresses the projection of its own moving-average copy.

Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
NeurIPS 2020.

Online branch: backbone -> projector -> predictor. Target branch: an exponential moving average
(``hjepa.nn.ema.EMATarget``) of the online backbone and projector, run without gradient. The loss
is symmetric in the two views::

    loss = byol_loss(p_a, sg(t_b)) + byol_loss(p_b, sg(t_a))     (each 2 - 2 cos, in [0, 4])

with ``p`` the online predictions and ``t`` the target projections. After every optimiser step,
``after_step(step, total_steps)`` moves the target towards the online weights with BYOL's cosine
momentum schedule (``hjepa.objectives.cosine_momentum``: ``base_momentum`` -> ``final_momentum``).

Ablations (the VICReg paper's table on adding variance/covariance to BYOL and SimSiam):

* ``use_predictor=False`` removes the predictor (``p = z``); BYOL then collapses.
* ``vc_weight > 0`` adds ``vc_weight * vc_penalty(z_a, z_b)`` on the *online projector outputs*
  ``z`` (VICReg's ``25 * variance + 1 * covariance``, averaged over the two views, all scaled by
  ``vc_weight``), which prevents that collapse. Since the regression term is bounded by 4, a
  ``vc_weight`` around 0.04 (variance weight 1) keeps the two on the same scale.

Each view is encoded in its own pass (per-view BatchNorm statistics). The target networks are
submodules (they move with ``.to()`` and are saved in the state dict) whose parameters never
require a gradient: an optimiser should be given only the parameters with ``requires_grad``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.ema import EMATarget
from hjepa.nn.heads import prediction_head, projector
from hjepa.objectives import byol_loss, cosine_momentum
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim, vc_penalty


class BYOL(SSLMethod):
    """BYOL with an EMA target, optionally without predictor and with VICReg's VC regulariser.

    Args:
        backbone: images ``(B, C, H, W) -> (B, F)`` with ``out_dim = F``.
        projector_dims: projector widths; the last is ``E`` (paper: ``(4096, 256)``).
        predictor_hidden: hidden width of the predictor ``E -> predictor_hidden -> E``.
        base_momentum: target momentum at step 0 (paper: 0.996), in ``[0, 1]``.
        use_predictor: keep the predictor (``False``: the collapsing ablation).
        vc_weight: scale of the variance-covariance regulariser on the online projections,
            ``>= 0`` (``0``: off).
        final_momentum: target momentum at the last step (paper: 1.0), in ``[base_momentum, 1]``.

    ``forward([view_a, view_b])``, each ``(B, C, H, W)`` -> ``MethodOutput`` with terms
    ``regression`` (the symmetric BYOL loss), ``vc`` (unweighted, only when ``vc_weight > 0``) and
    ``std``; features ``(B, F)`` of the online backbone, embeddings ``(B, E)`` of the online
    projector.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector_dims: Sequence[int] = (1024, 256),
        predictor_hidden: int = 1024,
        base_momentum: float = 0.996,
        use_predictor: bool = True,
        vc_weight: float = 0.0,
        final_momentum: float = 1.0,
    ) -> None:
        super().__init__(backbone, num_views=2)
        if not 0.0 <= base_momentum <= final_momentum <= 1.0:
            raise InputError(
                f"need 0 <= base_momentum <= final_momentum <= 1, got {base_momentum}, {final_momentum}"
            )
        if vc_weight < 0:
            raise InputError(f"vc_weight must be >= 0 (0 switches the regulariser off), got {vc_weight}")
        dims = tuple(projector_dims)
        self.projector = projector(feature_dim(backbone), dims)
        self.predictor = prediction_head(dims[-1], predictor_hidden) if use_predictor else None
        self.target_backbone = EMATarget(backbone)
        self.target_projector = EMATarget(self.projector)
        self.base_momentum = base_momentum
        self.final_momentum = final_momentum
        self.use_predictor = use_predictor
        self.vc_weight = vc_weight

    def _predict(self, z: Tensor) -> Tensor:
        return z if self.predictor is None else self.predictor(z)

    def forward(self, views: list[Tensor]) -> MethodOutput:
        view_a, view_b = self.check_views(views)
        h_a, h_b = self.backbone(view_a), self.backbone(view_b)
        z_a, z_b = self.projector(h_a), self.projector(h_b)
        p_a, p_b = self._predict(z_a), self._predict(z_b)
        with torch.no_grad():
            t_a = self.target_projector(self.target_backbone(view_a))
            t_b = self.target_projector(self.target_backbone(view_b))
        regression = byol_loss(p_a, t_b) + byol_loss(p_b, t_a)
        loss = regression
        logged = {"regression": regression.detach()}
        if self.vc_weight > 0:
            vc = vc_penalty(z_a, z_b)
            loss = loss + self.vc_weight * vc
            logged["vc"] = vc.detach()
        logged["std"] = collapse_std(z_a)
        return MethodOutput(loss, logged, h_a.detach(), z_a.detach())

    def momentum(self, step: int, total_steps: int) -> float:
        """Target momentum after optimiser step ``step`` of ``total_steps`` (cosine schedule)."""
        return cosine_momentum(step, total_steps, self.base_momentum, self.final_momentum)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """EMA update of the target backbone and projector with ``momentum(step, total_steps)``."""
        momentum = self.momentum(step, total_steps)
        self.target_backbone.update(self.backbone, momentum)
        self.target_projector.update(self.projector, momentum)

    def extra_repr(self) -> str:
        return (
            f"num_views={self.num_views}, base_momentum={self.base_momentum}, "
            f"final_momentum={self.final_momentum}, use_predictor={self.use_predictor}, "
            f"vc_weight={self.vc_weight}"
        )
