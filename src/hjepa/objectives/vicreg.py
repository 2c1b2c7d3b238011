"""VICReg: Variance-Invariance-Covariance regularisation.

Bardes, Ponce & LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022.

Two batches of embeddings ``z_a, z_b (N, D)`` of two views of the same ``N`` inputs are pulled
together (invariance) while each batch is kept from collapsing: every dimension must keep a
standard deviation of at least ``gamma`` over the batch (variance) and distinct dimensions must
be decorrelated (covariance). The conventions follow the authors' reference implementation:
unbiased variance, ``eps`` inside the square root, the covariance penalty divided by ``D``, the
variance term averaged over the two branches and the covariance term summed over them.

Distributed training: the variance and covariance statistics are computed over the global batch
(``gather_batch``: every process's embeddings, with gradients routed back to their owner), so the
objective does not depend on the number of processes. The invariance term stays local: it is a
mean over this process's pairs, and DDP's gradient averaging turns it into the mean over all
pairs (exactly so when every process holds the same number of pairs). With one process nothing
is gathered and the behaviour is that of the single-batch formulas below.

Tiny example::

    >>> z_a = torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0]])
    >>> float(invariance_loss(z_a, z_a))
    0.0
    >>> round(float(covariance_loss(z_a)), 4)  # cov = [[1, .5], [.5, 1]] -> 2 * .25 / 2
    0.25

All functions also accept ``(..., D)`` inputs: leading dimensions are flattened into the batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.objectives.gather import gather_batch


def _flatten(z: Tensor, name: str) -> Tensor:
    """Flatten ``z (..., D)`` into ``(N, D)``."""
    if z.dim() < 2:
        raise InputError(f"{name} must have shape (..., D) with at least 2 dims, got {tuple(z.shape)}")
    return z.reshape(-1, z.shape[-1])


def _global_batch(z: Tensor, name: str = "z") -> Tensor:
    """Flatten ``z (..., D)`` and gather it over processes into ``(N_global, D)`` with >= 2 rows."""
    flat = gather_batch(_flatten(z, name))
    if flat.shape[0] < 2:
        raise InputError(
            f"{name} needs at least 2 embeddings (over all processes) to estimate a variance, "
            f"got shape {tuple(z.shape)}"
        )
    return flat


def _variance(z: Tensor, gamma: float, eps: float) -> Tensor:
    """Variance hinge of an already global ``(N, D)`` batch."""
    std = torch.sqrt(z.var(dim=0, unbiased=True) + eps)
    return F.relu(gamma - std).mean()


def _covariance(z: Tensor) -> Tensor:
    """Covariance penalty of an already global ``(N, D)`` batch."""
    n, d = z.shape
    centred = z - z.mean(dim=0, keepdim=True)
    cov = centred.T @ centred / (n - 1)
    off_diag_sq = cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()
    return off_diag_sq / d


def invariance_loss(z_a: Tensor, z_b: Tensor) -> Tensor:
    """Mean squared distance between paired embeddings (local: this process's pairs only).

    Args:
        z_a, z_b: embeddings ``(..., D)`` of the same shape.
    Returns:
        scalar: ``mean((z_a - z_b) ** 2)`` over all elements (``F.mse_loss``).
    """
    if z_a.shape != z_b.shape:
        raise InputError(f"z_a and z_b must have the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    return F.mse_loss(z_a, z_b)


def variance_loss(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """Hinge on the per-dimension standard deviation of one branch.

    Args:
        z: embeddings ``(N, D)`` or ``(..., D)``; ``N >= 2``.
        gamma: target standard deviation.
        eps: added to the (unbiased) variance before the square root, for a finite gradient at 0.
    Returns:
        scalar: ``mean_d relu(gamma - sqrt(var_n(z[:, d]) + eps))``, the variance taken over the
        global (gathered) batch.
    """
    return _variance(_global_batch(z), gamma, eps)


def covariance_loss(z: Tensor) -> Tensor:
    """Sum of squared off-diagonal covariances of one branch, divided by ``D``.

    Args:
        z: embeddings ``(N, D)`` or ``(..., D)``; ``N >= 2``.
    Returns:
        scalar: ``sum_{i != j} C_ij ** 2 / D`` with ``C = (z - mean)^T (z - mean) / (N - 1)`` over
        the global (gathered) batch.
    """
    return _covariance(_global_batch(z))


class VICRegTerms(NamedTuple):
    """The weighted total and the three unweighted VICReg terms (all scalars)."""

    total: Tensor
    invariance: Tensor
    variance: Tensor
    covariance: Tensor


def vicreg_loss(
    z_a: Tensor,
    z_b: Tensor,
    inv_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
) -> VICRegTerms:
    """Full VICReg objective on two branches.

    Args:
        z_a, z_b: embeddings ``(N, D)`` (or ``(..., D)``) of two views; same shape.
        inv_weight, var_weight, cov_weight: the paper's lambda, mu, nu (defaults 25, 25, 1).
    Returns:
        ``VICRegTerms`` with ``variance = (v_a + v_b) / 2``, ``covariance = c_a + c_b`` and
        ``total = inv_weight * invariance + var_weight * variance + cov_weight * covariance``.
    """
    inv = invariance_loss(z_a, z_b)
    g_a, g_b = _global_batch(z_a, "z_a"), _global_batch(z_b, "z_b")
    var = 0.5 * (_variance(g_a, gamma, eps) + _variance(g_b, gamma, eps))
    cov = _covariance(g_a) + _covariance(g_b)
    total = inv_weight * inv + var_weight * var + cov_weight * cov
    return VICRegTerms(total=total, invariance=inv, variance=var, covariance=cov)


def vc_regularizer(
    z: Tensor,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
) -> Tensor:
    """Variance + covariance penalty on one set of embeddings (anti-collapse regulariser).

    Args:
        z: embeddings ``(..., D)``; leading dims (e.g. batch and time) are flattened.
    Returns:
        scalar: ``var_weight * variance_loss(z) + cov_weight * covariance_loss(z)`` (one gather).
    """
    z = _global_batch(z)
    return var_weight * _variance(z, gamma, eps) + cov_weight * _covariance(z)


class VICRegLoss(nn.Module):
    """``nn.Module`` holding VICReg weights; ``forward(z_a, z_b) -> VICRegTerms``."""

    def __init__(
        self,
        inv_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
    ) -> None:
        super().__init__()
        self.inv_weight = inv_weight
        self.var_weight = var_weight
        self.cov_weight = cov_weight
        self.gamma = gamma
        self.eps = eps

    def forward(self, z_a: Tensor, z_b: Tensor) -> VICRegTerms:
        return vicreg_loss(
            z_a, z_b, self.inv_weight, self.var_weight, self.cov_weight, self.gamma, self.eps
        )

    def extra_repr(self) -> str:
        return f"inv_weight={self.inv_weight}, var_weight={self.var_weight}, cov_weight={self.cov_weight}"
