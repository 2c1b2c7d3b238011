"""The interface shared by every image self-supervised method, and the helpers they share.

A method owns a backbone (images ``(B, C, H, W) -> (B, F)``, with an ``out_dim`` attribute) and
whatever heads and target networks its paper adds. The trainer only sees this interface:

* ``forward(views) -> MethodOutput``: ``views`` is a list of ``num_views`` tensors holding the same
  ``B`` samples (view ``i`` of sample ``n`` is ``views[i][n]``); the output carries the scalar loss
  to back-propagate, detached scalar terms to log, and detached features / embeddings of the first
  view for the online linear probe and the rank / collapse monitors.
* ``after_step(step, total_steps)``: called after every optimiser step (BYOL's EMA update).
* ``encoders()``: the backbones to evaluate after training, by name.

Everything in ``MethodOutput`` is a tensor: nothing is copied to the host in ``forward``, so a
training step never waits for the accelerator.

Example (a trivial method that only checks its input)::

    >>> class Identity(SSLMethod):
    ...     def forward(self, views):
    ...         a, _ = self.check_views(views)
    ...         h = self.backbone(a)
    ...         return MethodOutput(h.sum(), {"std": collapse_std(h)}, h.detach(), h.detach())
    >>> backbone = nn.Flatten()
    >>> backbone.out_dim = 4
    >>> out = Identity(backbone, num_views=2)([torch.ones(3, 1, 2, 2), torch.ones(3, 1, 2, 2)])
    >>> out.features.shape, float(out.loss)
    (torch.Size([3, 4]), 12.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.objectives import vc_regularizer


class MethodOutput(NamedTuple):
    """What one ``SSLMethod.forward`` returns."""

    loss: Tensor
    """Scalar to back-propagate (carries the graph)."""
    terms: dict[str, Tensor]
    """Detached scalars for logging, e.g. ``{"invariance": ..., "variance": ..., "std": ...}``."""
    features: Tensor
    """``(B, F)`` detached backbone features of the first view (online linear probe)."""
    embeddings: Tensor
    """``(B, E)`` detached projector output of the first view (rank / collapse monitoring)."""


def feature_dim(module: nn.Module, name: str = "backbone") -> int:
    """The ``out_dim`` attribute of an encoder, checked to be a positive int.

    Raises:
        ValueError: when ``module`` has no positive integer ``out_dim``.
    """
    out_dim = getattr(module, "out_dim", None)
    if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim < 1:
        raise InputError(
            f"{name} must have a positive integer attribute out_dim (its feature size), "
            f"got {out_dim!r} on {type(module).__name__}"
        )
    return out_dim


def collapse_std(z: Tensor) -> Tensor:
    """Collapse monitor of SimSiam (Chen & He, CVPR 2021, Sec. 4.1), detached.

    The per-dimension standard deviation over the batch of the L2-normalised embeddings, averaged
    over dimensions. It is ``0`` for a complete collapse (all rows equal) and about ``1 / sqrt(E)``
    for embeddings spread like an isotropic Gaussian.

    Args:
        z: embeddings ``(B, E)`` with ``B >= 2``.
    Returns:
        detached scalar.
    """
    return F.normalize(z.detach(), dim=-1).std(dim=0).mean()


def vc_penalty(z_a: Tensor, z_b: Tensor) -> Tensor:
    """VICReg's variance + covariance regulariser averaged over two views (with gradient).

    ``(vc_regularizer(z_a) + vc_regularizer(z_b)) / 2`` with VICReg's default weights, i.e.
    ``25 * variance + 1 * covariance`` per view (Bardes et al., ICLR 2022). BYOL and SimSiam scale
    it by their ``vc_weight`` to add VICReg's anti-collapse terms to a distillation loss.

    Args:
        z_a, z_b: embeddings ``(B, E)`` of the two views.
    Returns:
        scalar.
    """
    return 0.5 * (vc_regularizer(z_a) + vc_regularizer(z_b))


class SSLMethod(nn.Module):
    """Base class of the self-supervised methods: a backbone, a view count and three hooks.

    Args:
        backbone: encoder ``(B, C, H, W) -> (B, F)`` with an ``out_dim`` attribute ``F``.
        num_views: how many views ``forward`` expects (2 for the two-branch methods, ``V`` for
            LeJEPA).

    Subclasses implement ``forward`` and call ``check_views`` first; ``after_step`` defaults to a
    no-op and ``encoders`` to ``{"backbone": self.backbone}``.
    """

    backbone: nn.Module
    num_views: int

    def __init__(self, backbone: nn.Module, num_views: int) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise InputError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
        feature_dim(backbone)
        if num_views < 2:
            raise InputError(f"num_views must be >= 2 (a joint-embedding method compares views), got {num_views}")
        self.backbone = backbone
        self.num_views = num_views

    def forward(self, views: list[Tensor]) -> MethodOutput:  # pragma: no cover - abstract
        """``views``: ``num_views`` tensors with the same batch size ``B`` -> ``MethodOutput``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(views)")

    def after_step(self, step: int, total_steps: int) -> None:
        """Called by the trainer after optimiser step ``step`` of ``total_steps``; no-op here."""

    def encoders(self) -> dict[str, nn.Module]:
        """The encoders to evaluate (linear probe, k-NN...), by name; each maps images to ``(B, F)``."""
        return {"backbone": self.backbone}

    def check_views(self, views: Sequence[Tensor]) -> list[Tensor]:
        """Validate the views and return them as a list.

        Checks that ``views`` is a list or tuple of exactly ``num_views`` tensors with the same,
        at least 2, leading batch size (every method here uses batch statistics). The shapes past
        the batch dimension are left to the encoders, which check their own input.

        Raises:
            ValueError: with the offending count or shapes.
        """
        name = type(self).__name__
        if not isinstance(views, (list, tuple)):
            raise InputError(f"{name} expects a list of {self.num_views} view tensors, got {type(views).__name__}")
        if len(views) != self.num_views:
            raise InputError(f"{name} expects {self.num_views} views, got {len(views)}")
        for i, view in enumerate(views):
            if not isinstance(view, Tensor) or view.dim() < 2:
                shape = tuple(view.shape) if isinstance(view, Tensor) else type(view).__name__
                raise InputError(f"{name}: view {i} must be a batched tensor (B, ...), got {shape}")
        sizes = [view.shape[0] for view in views]
        if len(set(sizes)) != 1:
            shapes = [tuple(view.shape) for view in views]
            raise InputError(f"{name}: all views must hold the same batch of samples, got shapes {shapes}")
        if sizes[0] < 2:
            raise InputError(f"{name} needs a batch of at least 2 samples (batch statistics), got {sizes[0]}")
        return list(views)

    def extra_repr(self) -> str:
        return f"num_views={self.num_views}"
