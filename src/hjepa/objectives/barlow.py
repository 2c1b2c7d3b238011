"""Barlow Twins: redundancy reduction through the cross-correlation of two views.

Zbontar, Jing, Misra, LeCun & Deny, "Barlow Twins: Self-Supervised Learning via Redundancy
Reduction", ICML 2021.

Each branch ``z_a, z_b (N, D)`` is standardised per dimension over the batch (mean 0, biased
standard deviation 1, like ``BatchNorm1d`` without affine parameters, ``eps`` inside the square
root). The ``D x D`` cross-correlation ``C = z_a_n^T z_b_n / N`` is pushed to the identity:

    on_diagonal  = sum_i (1 - C_ii) ** 2          (invariance)
    off_diagonal = sum_{i != j} C_ij ** 2         (redundancy reduction)
    total        = on_diagonal + lambd * off_diagonal

Distributed training: the standardisation and ``C`` use the global batch (``gather_batch`` of
both branches), so every process computes the same loss as one process would on all samples.

Tiny example::

    >>> z = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])  # C = I
    >>> barlow_twins_loss(z, z).total < 1e-8
    tensor(True)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.objectives.gather import gather_batch


class BarlowTerms(NamedTuple):
    """The weighted total and the two unweighted Barlow Twins terms (all scalars)."""

    total: Tensor
    on_diagonal: Tensor
    off_diagonal: Tensor


def _standardise(z: Tensor, eps: float) -> Tensor:
    """Per-dimension ``(z - mean) / sqrt(biased var + eps)`` over dim 0."""
    mean = z.mean(dim=0, keepdim=True)
    var = z.var(dim=0, unbiased=False, keepdim=True)
    return (z - mean) / torch.sqrt(var + eps)


def barlow_twins_loss(z_a: Tensor, z_b: Tensor, lambd: float = 0.0051, eps: float = 1e-5) -> BarlowTerms:
    """Barlow Twins objective on two branches.

    Args:
        z_a, z_b: embeddings ``(N, D)`` of two views of the same ``N`` inputs; same shape, and at
            least 2 rows over all processes.
        lambd: weight of the off-diagonal (redundancy) term; the paper's 5.1e-3.
        eps: added to the biased variance before the square root (``BatchNorm1d``'s default).
    Returns:
        ``BarlowTerms(total, on_diagonal, off_diagonal)`` with ``total = on + lambd * off``.

    Example: two views equal to the same standardised, decorrelated batch give ``C ~ I`` and
    a loss of ``~0``; a constant batch gives ``C = 0`` and ``on_diagonal = D``.
    """
    if z_a.dim() != 2 or z_b.dim() != 2:
        raise InputError(f"z_a and z_b must have shape (N, D), got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    if z_a.shape != z_b.shape:
        raise InputError(f"z_a and z_b must have the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    g_a, g_b = gather_batch(z_a), gather_batch(z_b)
    n = g_a.shape[0]
    if n < 2:
        raise InputError(
            "Barlow Twins needs at least 2 embeddings (over all processes) to standardise, "
            f"got shape {tuple(z_a.shape)}"
        )
    c = _standardise(g_a, eps).T @ _standardise(g_b, eps) / n  # (D, D)
    diag = torch.diagonal(c)
    on = (1.0 - diag).pow(2).sum()
    off = (c - torch.diag(diag)).pow(2).sum()  # masked, not sum(C^2) - sum(diag^2): no cancellation
    return BarlowTerms(total=on + lambd * off, on_diagonal=on, off_diagonal=off)


class BarlowTwinsLoss(nn.Module):
    """``nn.Module`` holding the Barlow Twins weight; ``forward(z_a, z_b) -> BarlowTerms``.

    Args:
        lambd: weight of the off-diagonal term.
        eps: standardisation epsilon.
    """

    def __init__(self, lambd: float = 0.0051, eps: float = 1e-5) -> None:
        super().__init__()
        self.lambd = lambd
        self.eps = eps

    def forward(self, z_a: Tensor, z_b: Tensor) -> BarlowTerms:
        return barlow_twins_loss(z_a, z_b, self.lambd, self.eps)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}, eps={self.eps}"
