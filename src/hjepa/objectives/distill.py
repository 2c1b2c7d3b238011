"""Self-distillation losses: BYOL and SimSiam, and BYOL's momentum schedule.

* BYOL: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
  NeurIPS 2020. An online network with a predictor regresses the projection of a target network
  (an exponential moving average of the online one, see ``hjepa.nn.ema.EMATarget``).
* SimSiam: Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021. Same
  idea without a momentum encoder: the stop-gradient alone prevents collapse.

Both losses compare a prediction ``p`` of one view with the (stop-gradient) target ``z`` of the
*other* view. The methods symmetrise by calling them on both pairings and adding (BYOL) or
averaging (SimSiam)::

    loss = byol_loss(p_a, z_target_b) + byol_loss(p_b, z_target_a)
    loss = 0.5 * (simsiam_loss(p_a, z_b) + simsiam_loss(p_b, z_a))

These losses need no batch statistics, so nothing is gathered across processes: the mean over
this process's batch is averaged over processes by DDP.

Tiny example::

    >>> p = torch.tensor([[1.0, 0.0]])
    >>> float(byol_loss(p, p)), float(byol_loss(p, -p)), float(simsiam_loss(p, 3 * p))
    (0.0, 4.0, -1.0)
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from hjepa.errors import InputError


def _check_pair(p: Tensor, z: Tensor, names: str) -> None:
    if p.dim() < 2:
        raise InputError(f"{names} must have shape (N, D) (or (..., D)), got {tuple(p.shape)}")
    if p.shape != z.shape:
        raise InputError(f"{names} must have the same shape, got {tuple(p.shape)} and {tuple(z.shape)}")


def _cosine(p: Tensor, z: Tensor) -> Tensor:
    """Row-wise cosine similarity along the last dim: ``(..., D) -> (...)``."""
    return (F.normalize(p, dim=-1) * F.normalize(z, dim=-1)).sum(dim=-1)


def byol_loss(p: Tensor, z_target: Tensor) -> Tensor:
    """BYOL regression loss: mean over the batch of ``2 - 2 cos(p, z_target)``.

    Equal to the squared distance between the L2-normalised vectors. ``z_target`` is detached.

    Args:
        p: online predictions ``(N, D)`` (or ``(..., D)``).
        z_target: target projections of the other view, same shape.
    Returns:
        scalar in ``[0, 4]``: ``0`` when aligned, ``4`` when opposite.
    """
    _check_pair(p, z_target, "p and z_target")
    return (2.0 - 2.0 * _cosine(p, z_target.detach())).mean()


def simsiam_loss(p: Tensor, z: Tensor, stop_gradient: bool = True) -> Tensor:
    """SimSiam loss: negative mean cosine similarity ``-mean cos(p, sg(z))``.

    Args:
        p: predictions ``(N, D)`` (or ``(..., D)``) of one view.
        z: projections of the other view, same shape.
        stop_gradient: detach ``z`` (the method's key ingredient; ``False`` only for ablations).
    Returns:
        scalar in ``[-1, 1]``: ``-1`` when aligned.
    """
    _check_pair(p, z, "p and z")
    return -_cosine(p, z.detach() if stop_gradient else z).mean()


def cosine_momentum(step: int, total_steps: int, base: float = 0.996, final: float = 1.0) -> float:
    """BYOL's target momentum: ``final - (final - base) * (cos(pi * step / total_steps) + 1) / 2``.

    Goes from ``base`` at ``step = 0`` to ``final`` at ``step = total_steps``; steps past the end
    stay at ``final``.

    Args:
        step: current optimisation step ``>= 0``.
        total_steps: length of the schedule ``> 0``.
        base, final: momentum at the start and at the end.

    Example: ``cosine_momentum(50, 100, 0.996, 1.0)`` is ``0.998`` (up to rounding).
    """
    if total_steps <= 0:
        raise InputError(f"total_steps must be > 0, got {total_steps}")
    if step < 0:
        raise InputError(f"step must be >= 0, got {step}")
    progress = min(step, total_steps) / total_steps
    return final - (final - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
