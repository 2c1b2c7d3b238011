"""VICRegL's local criterion: VICReg between matched feature-map vectors of two views.

Bardes, Ponce & LeCun, "VICRegL: Self-Supervised Learning of Local Visual Features",
NeurIPS 2022, Sec. 3.

Two views of an image give local embeddings ``z_a (B, N, E)`` and ``z_b (B, M, E)`` (one vector
per feature-map cell, after a per-location expander). A vector of view ``a`` is paired with one
of view ``b`` in two ways:

* **location-based**: the cell of ``b`` whose centre is nearest *in the original image*
  (``points`` from the crop boxes, ``hjepa.ssl.boxed_views.box_points``);
* **feature-based**: the cell of ``b`` whose embedding is nearest (L2) in embedding space.

Of the ``N`` pairs, only the ``k`` with the smallest distance are kept (the paper's top-gamma
filter: cells of ``a`` outside the region ``b`` covers, or without a good match, drop out), and
the invariance term is the mean squared difference over the kept pairs. Both matchings are made
from ``a`` to ``b`` and from ``b`` to ``a``, and averaged. The anti-collapse terms are VICReg's
variance and covariance computed for each location over the batch (``(B, N, E)`` -> per-location
statistics, averaged over locations), on both views::

    location  = (inv(a -> b) + inv(b -> a)) / 2                      by image distance
    feature   = (inv(a -> b) + inv(b -> a)) / 2                      by embedding distance
    variance  = (v(z_a) + v(z_b)) / 2,   covariance = c(z_a) + c(z_b)
    total     = inv_weight * (location + feature) / 2 + var_weight * variance + cov_weight * covariance

Averaging the two matchings keeps the local total on the scale of a global VICReg loss, so the
``alpha`` of ``VICRegL`` weighs like against like. The matching itself (an argmin) carries no
gradient; the squared differences of the matched pairs do.

Tiny example (identical views: every cell matches itself at distance 0)::

    >>> z = torch.randn(4, 9, 8)
    >>> points = torch.rand(4, 9, 2)
    >>> float(local_vicreg_loss(z, z, points, points, num_matches=3).location)
    0.0
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from hjepa.errors import InputError
from hjepa.objectives.gather import gather_batch


def nearest_matches(distances: Tensor, num_matches: int) -> tuple[Tensor, Tensor]:
    """Each row's nearest column, keeping the ``num_matches`` rows with the smallest distance.

    Args:
        distances: ``(B, N, M)``, distance between cell ``n`` of view a and cell ``m`` of view b.
        num_matches: pairs kept per sample, in ``[1, N]``.
    Returns:
        ``(index_a, index_b)``, both ``int64 (B, num_matches)``: kept cells of a (closest pairs
        first) and their nearest cells of b.
    """
    if distances.dim() != 3:
        raise InputError(f"distances must be (B, N, M), got {tuple(distances.shape)}")
    if not 1 <= num_matches <= distances.shape[1]:
        raise InputError(f"num_matches must be in [1, {distances.shape[1]}], got {num_matches}")
    best, nearest = distances.min(dim=2)  # (B, N)
    index_a = best.topk(num_matches, dim=1, largest=False).indices  # (B, k)
    return index_a, nearest.gather(1, index_a)


def location_matches(points_a: Tensor, points_b: Tensor, num_matches: int) -> tuple[Tensor, Tensor]:
    """Pairs by image position: ``points_a (B, N, 2)``, ``points_b (B, M, 2)`` -> ``nearest_matches``."""
    if points_a.dim() != 3 or points_b.dim() != 3 or points_a.shape[0] != points_b.shape[0]:
        raise InputError(f"points must be (B, N, 2) and (B, M, 2), got {tuple(points_a.shape)}, {tuple(points_b.shape)}")
    return nearest_matches(torch.cdist(points_a.float(), points_b.float()), num_matches)


def feature_matches(z_a: Tensor, z_b: Tensor, num_matches: int) -> tuple[Tensor, Tensor]:
    """Pairs by embedding (L2 nearest neighbour, no gradient): ``z_a (B, N, E)``, ``z_b (B, M, E)``."""
    with torch.no_grad():
        return nearest_matches(torch.cdist(z_a.detach().float(), z_b.detach().float()), num_matches)


def matched_invariance(z_a: Tensor, z_b: Tensor, index_a: Tensor, index_b: Tensor) -> Tensor:
    """Mean squared difference between ``z_a[index_a]`` and ``z_b[index_b]`` (per sample rows)."""
    e = z_a.shape[-1]
    picked_a = z_a.gather(1, index_a.unsqueeze(-1).expand(-1, -1, e))
    picked_b = z_b.gather(1, index_b.unsqueeze(-1).expand(-1, -1, e))
    return F.mse_loss(picked_a, picked_b)


def local_variance(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """VICReg's variance hinge per location over the batch: ``z (B, N, E)`` -> scalar (mean over N, E)."""
    std = torch.sqrt(z.var(dim=0, unbiased=True) + eps)  # (N, E)
    return F.relu(gamma - std).mean()


def local_covariance(z: Tensor) -> Tensor:
    """VICReg's covariance penalty per location over the batch, averaged over locations.

    ``z (B, N, E)``: for each location ``n``, ``sum_{i != j} C_n[i, j]^2 / E`` with ``C_n`` the
    ``(E, E)`` covariance of ``z[:, n]`` over the batch; then the mean over ``n``.
    """
    b, _, e = z.shape
    centred = z - z.mean(dim=0, keepdim=True)
    cov = torch.einsum("bni,bnj->nij", centred, centred) / (b - 1)  # (N, E, E)
    off_diagonal = cov.pow(2).sum(dim=(1, 2)) - torch.diagonal(cov, dim1=1, dim2=2).pow(2).sum(dim=1)
    return (off_diagonal / e).mean()


class LocalTerms(NamedTuple):
    """The weighted local total and its unweighted terms (all scalars)."""

    total: Tensor
    location: Tensor
    feature: Tensor
    variance: Tensor
    covariance: Tensor


def local_vicreg_loss(z_a: Tensor, z_b: Tensor, points_a: Tensor, points_b: Tensor, num_matches: int,
                      inv_weight: float = 25.0, var_weight: float = 25.0, cov_weight: float = 1.0,
                      gamma: float = 1.0, eps: float = 1e-4) -> LocalTerms:
    """VICRegL's local loss (module docstring) on two views' local embeddings.

    Args:
        z_a, z_b: local embeddings ``(B, N, E)`` and ``(B, M, E)``.
        points_a, points_b: image coordinates of their cells, ``(B, N, 2)`` and ``(B, M, 2)``.
        num_matches: pairs kept per sample and direction, in ``[1, min(N, M)]``.
        inv_weight, var_weight, cov_weight: VICReg's weights (25, 25, 1).
    Returns:
        ``LocalTerms``. The variance / covariance use the global batch (gathered over processes).
    """
    if z_a.dim() != 3 or z_b.dim() != 3 or z_a.shape[0] != z_b.shape[0] or z_a.shape[2] != z_b.shape[2]:
        raise InputError(f"z_a and z_b must be (B, N, E) and (B, M, E), got {tuple(z_a.shape)}, {tuple(z_b.shape)}")
    if points_a.shape[:2] != z_a.shape[:2] or points_b.shape[:2] != z_b.shape[:2]:
        raise InputError(
            f"points {tuple(points_a.shape)}, {tuple(points_b.shape)} do not fit embeddings "
            f"{tuple(z_a.shape)}, {tuple(z_b.shape)}"
        )
    ab, ba = location_matches(points_a, points_b, num_matches), location_matches(points_b, points_a, num_matches)
    location = 0.5 * (matched_invariance(z_a, z_b, *ab) + matched_invariance(z_b, z_a, *ba))
    ab, ba = feature_matches(z_a, z_b, num_matches), feature_matches(z_b, z_a, num_matches)
    feature = 0.5 * (matched_invariance(z_a, z_b, *ab) + matched_invariance(z_b, z_a, *ba))
    g_a, g_b = gather_batch(z_a), gather_batch(z_b)
    if g_a.shape[0] < 2:
        raise InputError(f"local variance needs at least 2 samples, got {g_a.shape[0]}")
    variance = 0.5 * (local_variance(g_a, gamma, eps) + local_variance(g_b, gamma, eps))
    covariance = local_covariance(g_a) + local_covariance(g_b)
    total = inv_weight * 0.5 * (location + feature) + var_weight * variance + cov_weight * covariance
    return LocalTerms(total, location, feature, variance, covariance)
