"""SimCLR: contrastive learning with in-batch negatives (NT-Xent).

Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020.

Both views go through the same backbone and projection head (``hjepa.nn.heads.projector``, the
paper's 2-layer MLP to 128 dims), each in its own pass; ``hjepa.objectives.info_nce_loss``
L2-normalises the embeddings ``z_a, z_b (B, E)`` and, for each of the ``2B`` anchors, classifies
its positive (the other view of the same image) among the other ``2B - 2`` embeddings at the
given temperature.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hjepa.nn.heads import projector
from hjepa.objectives import InfoNCELoss
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim


class SimCLR(SSLMethod):
    """SimCLR.

    Args:
        backbone: images ``(B, C, H, W) -> (B, F)`` with ``out_dim = F``.
        projector_dims: projection head widths; the last is ``E`` (128 in the paper).
        temperature: softmax temperature ``> 0`` (0.1 for small batches, 0.5 in the paper's
            CIFAR runs).

    ``forward([view_a, view_b])``, each ``(B, C, H, W)`` -> ``MethodOutput`` with terms
    ``infonce`` and ``std``; features ``(B, F)``, embeddings ``(B, E)``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector_dims: Sequence[int] = (2048, 128),
        temperature: float = 0.1,
    ) -> None:
        super().__init__(backbone, num_views=2)
        self.projector = projector(feature_dim(backbone), tuple(projector_dims))
        self.loss_fn = InfoNCELoss(temperature)

    def forward(self, views: list[Tensor]) -> MethodOutput:
        view_a, view_b = self.check_views(views)
        h_a, h_b = self.backbone(view_a), self.backbone(view_b)
        z_a, z_b = self.projector(h_a), self.projector(h_b)
        loss = self.loss_fn(z_a, z_b)
        logged = {"infonce": loss.detach(), "std": collapse_std(z_a)}
        return MethodOutput(loss, logged, h_a.detach(), z_a.detach())
