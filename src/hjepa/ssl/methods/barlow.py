"""Barlow Twins as a method: shared backbone and projector, cross-correlation pushed to identity.

Zbontar, Jing, Misra, LeCun & Deny, "Barlow Twins: Self-Supervised Learning via Redundancy
Reduction", ICML 2021.

Both views go through the same backbone and projector (``hjepa.nn.heads.projector``; the paper
uses ``(8192, 8192, 8192)``), each in its own pass, and ``hjepa.objectives.barlow_twins_loss``
standardises the two embeddings ``z_a, z_b (B, E)`` over the batch and pushes their ``E x E``
cross-correlation to the identity::

    loss = sum_i (1 - C_ii) ** 2 + lambd * sum_{i != j} C_ij ** 2
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.heads import projector
from hjepa.objectives import BarlowTwinsLoss
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim


class BarlowTwins(SSLMethod):
    """Barlow Twins.

    Args:
        backbone: images ``(B, C, H, W) -> (B, F)`` with ``out_dim = F``.
        projector_dims: projector widths; the last is ``E``.
        lambd: weight of the off-diagonal (redundancy) term, ``>= 0``; the paper's 5.1e-3 is tuned
            for ``E = 8192`` (the off-diagonal sum grows like ``E ** 2``).

    ``forward([view_a, view_b])``, each ``(B, C, H, W)`` -> ``MethodOutput`` with terms
    ``on_diagonal``, ``off_diagonal`` (unweighted) and ``std``; features ``(B, F)``, embeddings
    ``(B, E)``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector_dims: Sequence[int] = (2048, 2048, 2048),
        lambd: float = 0.0051,
    ) -> None:
        super().__init__(backbone, num_views=2)
        if lambd < 0:
            raise InputError(f"lambd must be >= 0, got {lambd}")
        self.projector = projector(feature_dim(backbone), tuple(projector_dims))
        self.loss_fn = BarlowTwinsLoss(lambd)

    def forward(self, views: list[Tensor]) -> MethodOutput:
        view_a, view_b = self.check_views(views)
        h_a, h_b = self.backbone(view_a), self.backbone(view_b)
        z_a, z_b = self.projector(h_a), self.projector(h_b)
        terms = self.loss_fn(z_a, z_b)
        logged = {
            "on_diagonal": terms.on_diagonal.detach(),
            "off_diagonal": terms.off_diagonal.detach(),
            "std": collapse_std(z_a),
        }
        return MethodOutput(terms.total, logged, h_a.detach(), z_a.detach())
