"""Collapse diagnostics for embeddings.

``effective_rank`` is RankMe (Garrido, Balestriero, Najman & LeCun, "RankMe: Assessing the
Downstream Performance of Pretrained Self-Supervised Representations by Their Rank", ICML 2023):
``exp(H(p))`` with ``p_k = s_k / sum(s) + eps`` over the singular values ``s`` of ``z``. It is
``D`` for isotropic embeddings and ``1`` for embeddings on a line.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.errors import InputError


def _as_matrix(z: Tensor) -> Tensor:
    if z.dim() < 2:
        raise InputError(f"z must have shape (N, D) or (..., D), got {tuple(z.shape)}")
    z = z.detach().reshape(-1, z.shape[-1]).double().cpu()
    if not torch.isfinite(z).all():
        raise InputError("z contains NaN or inf")
    return z


def effective_rank(z: Tensor, eps: float = 1e-7) -> float:
    """RankMe of embeddings ``z (N, D)`` (or ``(..., D)``), uncentred as in the paper.

    Returns a float in about ``[1, min(N, D)]``: ``~D`` for isotropic data, ``~1`` for rank-1
    data; all-zero embeddings also give ``~1`` (``eps`` keeps the log finite).
    """
    z = _as_matrix(z)
    s = torch.linalg.svdvals(z)
    p = s / (s.sum() + eps) + eps
    return float(torch.exp(-(p * torch.log(p)).sum()))


def per_dim_std(z: Tensor) -> Tensor:
    """Standard deviation over the batch of each dimension: ``z (N, D) -> (D,)`` (float64)."""
    z = _as_matrix(z)
    if z.shape[0] < 2:
        raise InputError(f"per_dim_std needs at least 2 embeddings, got {z.shape[0]}")
    return z.std(dim=0, unbiased=True)


def collapse_verdict(z: Tensor, std_threshold: float = 0.01, rank_fraction: float = 0.1) -> dict:
    """Summarise whether embeddings ``z (N, D)`` have collapsed.

    Collapsed when the median per-dim std is below ``std_threshold`` (complete collapse) or the
    effective rank is below ``max(1.5, rank_fraction * D)`` (dimensional collapse).

    Returns:
        ``{"collapsed": bool, "effective_rank": float, "median_std": float, "min_std": float,
        "frac_dead_dims": float}`` (dead = std below the threshold).
    """
    z = _as_matrix(z)
    std = per_dim_std(z)
    erank = effective_rank(z)
    median_std = float(std.median())
    rank_floor = max(1.5, rank_fraction * z.shape[1])
    return {
        "collapsed": bool(median_std < std_threshold or erank < rank_floor),
        "effective_rank": erank,
        "median_std": median_std,
        "min_std": float(std.min()),
        "frac_dead_dims": float((std < std_threshold).double().mean()),
    }
