"""VICReg and its two ablations on the branches: no weight sharing, and inputs of different nature.

Bardes, Ponce & LeCun, "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised
Learning", ICLR 2022.

Each view goes through a backbone and an expander (``hjepa.nn.heads.projector``), and the VICReg
objective (``hjepa.objectives.vicreg_loss``) is applied to the two embeddings ``z_a, z_b (B, E)``::

    loss = inv_weight * invariance + var_weight * variance + cov_weight * covariance

* ``VICReg``: one backbone and one expander shared by both views (the standard method). The
  ablation of the loss terms (the paper's table on the effect of each term: invariance only,
  invariance + covariance, invariance + variance) is obtained with the weights alone: a weight of
  ``0`` switches its term off. All three terms are still computed and logged.
* ``VICRegTwoEncoders``: two backbones and two expanders with no weight sharing; view 0 goes
  through branch ``a``, view 1 through branch ``b``. VICReg's variance and covariance terms act
  on each branch separately, so it does not need the branches to be identical.
* ``VICRegMultiModal``: as ``VICRegTwoEncoders``, but branch ``b`` reads another kind of input
  derived from the same sample: view 0 is an image ``(B, C, H, W)`` for ``backbone_a``, view 1 is
  the intensity profile ``(B, C * (H + W))`` of a second, independently augmented view of that
  image (``hjepa.ssl.methods.profiles``) for a vector backbone such as ``MLPBackbone``.

Each view is encoded in its own pass, so BatchNorm statistics are per view, as in the authors'
implementation. ``features`` and ``embeddings`` of the output are those of view 0 (branch ``a``).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.heads import projector
from hjepa.objectives import VICRegLoss
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim
from hjepa.ssl.methods.profiles import ProfileEncoder


def _vicreg_loss_module(inv_weight: float, var_weight: float, cov_weight: float) -> VICRegLoss:
    weights = {"inv_weight": inv_weight, "var_weight": var_weight, "cov_weight": cov_weight}
    negative = {name: value for name, value in weights.items() if value < 0}
    if negative:
        raise InputError(f"VICReg weights must be >= 0 (0 switches a term off), got {negative}")
    if not any(value > 0 for value in weights.values()):
        raise InputError(f"at least one VICReg weight must be > 0, got {weights}")
    return VICRegLoss(inv_weight, var_weight, cov_weight)


def _output(loss_fn: VICRegLoss, h_a: Tensor, z_a: Tensor, z_b: Tensor) -> MethodOutput:
    """VICReg loss on ``z_a, z_b (B, E)``; features ``h_a (B, F)`` and embeddings of view 0."""
    terms = loss_fn(z_a, z_b)
    logged = {
        "invariance": terms.invariance.detach(),
        "variance": terms.variance.detach(),
        "covariance": terms.covariance.detach(),
        "std": collapse_std(z_a),
    }
    return MethodOutput(terms.total, logged, h_a.detach(), z_a.detach())


class VICReg(SSLMethod):
    """VICReg with a shared backbone and expander.

    Args:
        backbone: images ``(B, C, H, W) -> (B, F)`` with ``out_dim = F``.
        projector_dims: expander widths, e.g. ``(8192, 8192, 8192)`` in the paper; the last is ``E``.
        inv_weight, var_weight, cov_weight: the paper's lambda, mu, nu (25, 25, 1); ``>= 0``, and
            ``0`` removes a term (the ablations).

    ``forward([view_a, view_b])``, each ``(B, C, H, W)`` -> ``MethodOutput`` with terms
    ``invariance``, ``variance``, ``covariance`` (unweighted) and ``std``; features ``(B, F)``,
    embeddings ``(B, E)``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector_dims: Sequence[int] = (2048, 2048, 2048),
        inv_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
    ) -> None:
        super().__init__(backbone, num_views=2)
        self.projector = projector(feature_dim(backbone), tuple(projector_dims))
        self.loss_fn = _vicreg_loss_module(inv_weight, var_weight, cov_weight)

    def forward(self, views: list[Tensor]) -> MethodOutput:
        view_a, view_b = self.check_views(views)
        h_a, h_b = self.backbone(view_a), self.backbone(view_b)
        return _output(self.loss_fn, h_a, self.projector(h_a), self.projector(h_b))


class VICRegTwoEncoders(SSLMethod):
    """VICReg with two branches that share no weights (view 0 -> branch a, view 1 -> branch b).

    Args:
        backbone_a: encoder of view 0, ``(B, ...) -> (B, F_a)`` with ``out_dim``.
        backbone_b: encoder of view 1, ``(B, ...) -> (B, F_b)`` with ``out_dim``; ``F_b`` may
            differ from ``F_a`` (each branch has its own expander to ``E``).
        projector_dims, inv_weight, var_weight, cov_weight: as in ``VICReg``.

    ``self.backbone`` is ``backbone_a``. ``encoders()`` returns ``{"backbone": backbone_a,
    "backbone_b": backbone_b}``.
    """

    def __init__(
        self,
        backbone_a: nn.Module,
        backbone_b: nn.Module,
        projector_dims: Sequence[int] = (2048, 2048, 2048),
        inv_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
    ) -> None:
        super().__init__(backbone_a, num_views=2)
        if backbone_b is backbone_a:
            raise InputError("backbone_a and backbone_b must be distinct modules (no weight sharing)")
        dims = tuple(projector_dims)
        self.backbone_b = backbone_b
        self.projector = projector(feature_dim(backbone_a, "backbone_a"), dims)
        self.projector_b = projector(feature_dim(backbone_b, "backbone_b"), dims)
        self.loss_fn = _vicreg_loss_module(inv_weight, var_weight, cov_weight)

    def forward(self, views: list[Tensor]) -> MethodOutput:
        view_a, view_b = self.check_views(views)
        h_a = self.backbone(view_a)
        z_b = self.projector_b(self.backbone_b(view_b))
        return _output(self.loss_fn, h_a, self.projector(h_a), z_b)

    def encoders(self) -> dict[str, nn.Module]:
        return {"backbone": self.backbone, "backbone_b": self.backbone_b}


class VICRegMultiModal(VICRegTwoEncoders):
    """VICReg between an image branch and an intensity-profile branch (inputs of different nature).

    Args:
        backbone_a: image encoder ``(B, C, H, W) -> (B, F_a)`` for view 0.
        backbone_b: vector encoder ``(B, C * (H + W)) -> (B, F_b)`` for view 1, the
            ``intensity_profiles`` of a second augmented view (e.g. ``MLPBackbone``).
        projector_dims, inv_weight, var_weight, cov_weight: as in ``VICReg``.

    ``forward([image (B, C, H, W), profile (B, C * (H + W))])``. ``encoders()`` returns the image
    backbone as ``"backbone"`` and, as ``"backbone_b"``, a ``ProfileEncoder`` that computes the
    profile of an image and applies ``backbone_b``, so both branches are evaluated on images.
    """

    def forward(self, views: list[Tensor]) -> MethodOutput:
        image, profile = self.check_views(views)
        if image.dim() != 4 or profile.dim() != 2:
            raise InputError(
                "VICRegMultiModal expects [image (B, C, H, W), profile (B, C * (H + W))], "
                f"got shapes {tuple(image.shape)} and {tuple(profile.shape)}"
            )
        return super().forward([image, profile])

    def encoders(self) -> dict[str, nn.Module]:
        return {"backbone": self.backbone, "backbone_b": ProfileEncoder(self.backbone_b)}
