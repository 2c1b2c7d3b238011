"""SIGReg and the LeJEPA objective.

Balestriero & LeCun, "LeJEPA: Provable and Scalable Self-Supervised Learning Without the
Heuristics", 2025.

SIGReg (Sketched Isotropic Gaussian Regularisation) pushes the distribution of embeddings
``z (N, D)`` towards the isotropic standard Gaussian, the distribution the paper shows to be
optimal for downstream prediction. By Cramer-Wold, it is enough to test 1-D projections: ``z``
is projected on ``M`` random unit directions and each projection ``x_1..x_N`` is compared with
``N(0, 1)`` by the Epps-Pulley statistic, a weighted L2 distance between its empirical
characteristic function ``phi_N(t) = mean_n exp(i t x_n)`` and the Gaussian's ``exp(-t^2 / 2)``::

    EP = N * integral_{-T}^{T} |phi_N(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt
    |phi_N(t) - exp(-t^2/2)|^2 = (mean_n cos(t x_n) - exp(-t^2/2))^2 + (mean_n sin(t x_n))^2

integrated by the trapezoid rule on ``num_points`` evenly spaced ``t``. SIGReg is the mean of
``EP`` over the directions. Under the Gaussian null ``E[EP] = int (1 - exp(-t^2)) exp(-t^2/2) dt``
(about 1.06 for ``T = 3``) whatever ``N``; any fixed departure from the Gaussian grows like ``N``.

Distributed training: ``phi_N`` is the mean over the global batch. Instead of gathering ``z``,
each process sums ``cos(t x_n)`` and ``sin(t x_n)`` over its own samples and the ``(M, P)`` sums and
the sample count are summed over processes (``all_reduce_sum``, differentiable), which is much
smaller than the embeddings. All processes must use the same directions: when ``directions`` is
not given they are sampled on every process and rank 0's are broadcast.

Tiny example::

    >>> g = torch.Generator().manual_seed(0)
    >>> gaussian = torch.randn(2000, 8, generator=g)
    >>> collapsed = torch.sign(torch.randn(2000, 1, generator=g)) * torch.ones(8)  # two points
    >>> bool(sigreg_loss(gaussian, generator=g) < 3 < sigreg_loss(collapsed, generator=g))
    True
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.objectives.gather import all_reduce_sum, world_size


def _check_grid(num_directions: int, num_points: int, t_max: float) -> None:
    if num_directions < 1:
        raise InputError(f"num_directions must be >= 1, got {num_directions}")
    if num_points < 2:
        raise InputError(f"num_points must be >= 2 for the trapezoid rule, got {num_points}")
    if not t_max > 0.0:
        raise InputError(f"t_max must be > 0, got {t_max}")


def _unit_directions(
    dim: int, num_directions: int, generator: torch.Generator | None, directions: Tensor | None, like: Tensor
) -> Tensor:
    """``(M, D)`` unit rows: the given ``directions`` normalised, or Gaussian samples (rank 0's)."""
    if directions is not None:
        if directions.dim() != 2 or directions.shape[1] != dim:
            raise InputError(f"directions must have shape (M, D={dim}), got {tuple(directions.shape)}")
        return F.normalize(directions.to(device=like.device, dtype=like.dtype), dim=-1)
    device = generator.device if generator is not None else like.device
    sampled = torch.randn(num_directions, dim, generator=generator, device=device, dtype=like.dtype).to(like.device)
    if world_size() > 1:
        dist.broadcast(sampled, src=0)
    return F.normalize(sampled, dim=-1)


def _epps_pulley(z: Tensor, directions: Tensor, num_points: int, t_max: float) -> Tensor:
    """Mean Epps-Pulley statistic over directions: ``z (..., N, D)``, unit ``directions (M, D)`` -> ``(...)``."""
    proj = z @ directions.T  # (..., N, M)
    t = torch.linspace(-t_max, t_max, num_points, device=z.device, dtype=z.dtype)  # (P,)
    gaussian_cf = torch.exp(-0.5 * t.square())  # the target CF, also the integration weight
    tx = proj.unsqueeze(-1) * t  # (..., N, M, P)
    cos_sum, sin_sum = tx.cos().sum(dim=-3), tx.sin().sum(dim=-3)  # (..., M, P) each
    count = torch.full((1,), float(z.shape[-2]), device=z.device, dtype=z.dtype)
    # one collective for the global sums and the global sample count
    reduced = all_reduce_sum(torch.cat([cos_sum.flatten(), sin_sum.flatten(), count]))
    size = cos_sum.numel()
    n_global = reduced[-1]
    cos_mean = reduced[:size].view(cos_sum.shape) / n_global
    sin_mean = reduced[size : 2 * size].view(sin_sum.shape) / n_global
    distance = (cos_mean - gaussian_cf).square() + sin_mean.square()  # |phi_N - phi|^2
    statistic = n_global * torch.trapezoid(distance * gaussian_cf, t, dim=-1)  # (..., M)
    return statistic.mean(dim=-1)


def _working(z: Tensor) -> Tensor:
    """Half-precision embeddings are promoted to float32: ``cos(t x)`` needs the mantissa."""
    return z.to(torch.promote_types(z.dtype, torch.float32))


def sigreg_loss(
    z: Tensor,
    num_directions: int = 256,
    num_points: int = 17,
    t_max: float = 3.0,
    generator: torch.Generator | None = None,
    directions: Tensor | None = None,
) -> Tensor:
    """SIGReg: mean over random 1-D projections of the Epps-Pulley normality statistic.

    Args:
        z: embeddings ``(N, D)``, ``N >= 1`` on this process (the statistic uses the global batch).
        num_directions: ``M``, how many random directions to sample (ignored with ``directions``).
        num_points: ``P``, the trapezoid grid size on ``[-t_max, t_max]``.
        t_max: half-width of the integration interval.
        generator: source of the random directions (e.g. seeded with the step), or the global RNG.
        directions: ``(M, D)`` explicit directions, normalised to unit rows here.
    Returns:
        scalar ``>= 0``: ``~1`` for standard Gaussian embeddings, growing like ``N`` otherwise.
    """
    if z.dim() != 2:
        raise InputError(f"z must have shape (N, D), got {tuple(z.shape)}")
    if z.shape[0] < 1 or z.shape[1] < 1:
        raise InputError(f"z needs at least one embedding of at least one dim, got shape {tuple(z.shape)}")
    _check_grid(num_directions, num_points, t_max)
    z = _working(z)
    units = _unit_directions(z.shape[1], num_directions, generator, directions, z)
    return _epps_pulley(z, units, num_points, t_max)


class LeJEPATerms(NamedTuple):
    """The LeJEPA total and its two unweighted terms (all scalars)."""

    total: Tensor
    prediction: Tensor
    sigreg: Tensor


def lejepa_loss(
    embeddings: Tensor,
    num_global: int,
    lambd: float = 0.05,
    num_directions: int = 256,
    num_points: int = 17,
    t_max: float = 3.0,
    generator: torch.Generator | None = None,
    directions: Tensor | None = None,
) -> LeJEPATerms:
    """LeJEPA: predict the mean global-view embedding from every view, plus SIGReg.

    Args:
        embeddings: ``(V, N, D)``: ``V`` views of ``N`` inputs; the first ``num_global`` views
            are the global ones (the others, e.g. local crops, are only predictors).
        num_global: ``1 <= num_global <= V``.
        lambd: SIGReg weight in ``[0, 1]`` (the paper's default 0.05).
        num_directions, num_points, t_max, generator, directions: as in ``sigreg_loss``; one set
            of directions is shared by all views.
    Returns:
        ``LeJEPATerms`` with
        ``prediction = mean_{v, n, d} (embeddings[v, n, d] - centre[n, d]) ** 2`` where
        ``centre = embeddings[:num_global].mean(0)`` (no stop-gradient; mean over this process's
        elements), ``sigreg = mean_v sigreg_loss(embeddings[v])`` and the convex combination
        ``total = (1 - lambd) * prediction + lambd * sigreg``.

    Example: ``V = 2`` identical views give ``prediction = 0`` and ``total = lambd * sigreg``.
    """
    if embeddings.dim() != 3:
        raise InputError(f"embeddings must have shape (V, N, D), got {tuple(embeddings.shape)}")
    views, n, d = embeddings.shape
    if not 1 <= num_global <= views:
        raise InputError(f"num_global must be in [1, V={views}], got {num_global}")
    if n < 1 or d < 1:
        raise InputError(f"embeddings need at least one sample of at least one dim, got {tuple(embeddings.shape)}")
    if not 0.0 <= lambd <= 1.0:
        raise InputError(f"lambd must be in [0, 1] (convex combination), got {lambd}")
    _check_grid(num_directions, num_points, t_max)
    centre = embeddings[:num_global].mean(dim=0)  # (N, D)
    prediction = (embeddings - centre).square().mean()
    work = _working(embeddings)
    units = _unit_directions(d, num_directions, generator, directions, work)
    sigreg = _epps_pulley(work, units, num_points, t_max).mean()  # (V,) -> mean over views
    total = (1.0 - lambd) * prediction + lambd * sigreg
    return LeJEPATerms(total=total, prediction=prediction, sigreg=sigreg)


class SIGRegLoss(nn.Module):
    """``nn.Module`` holding SIGReg's grid; ``forward(z, generator=None, directions=None) -> scalar``.

    Args:
        num_directions: random directions per call.
        num_points: trapezoid grid size.
        t_max: half-width of the integration interval.
    """

    def __init__(self, num_directions: int = 256, num_points: int = 17, t_max: float = 3.0) -> None:
        super().__init__()
        _check_grid(num_directions, num_points, t_max)
        self.num_directions = num_directions
        self.num_points = num_points
        self.t_max = t_max

    def forward(
        self, z: Tensor, generator: torch.Generator | None = None, directions: Tensor | None = None
    ) -> Tensor:
        return sigreg_loss(z, self.num_directions, self.num_points, self.t_max, generator, directions)

    def extra_repr(self) -> str:
        return f"num_directions={self.num_directions}, num_points={self.num_points}, t_max={self.t_max}"


class LeJEPALoss(nn.Module):
    """``nn.Module`` holding LeJEPA's settings; ``forward(embeddings (V, N, D), ...) -> LeJEPATerms``.

    Args:
        num_global: how many leading views are global views.
        lambd: SIGReg weight in ``[0, 1]``.
        num_directions, num_points, t_max: SIGReg's settings.
    """

    def __init__(
        self,
        num_global: int,
        lambd: float = 0.05,
        num_directions: int = 256,
        num_points: int = 17,
        t_max: float = 3.0,
    ) -> None:
        super().__init__()
        if num_global < 1:
            raise InputError(f"num_global must be >= 1, got {num_global}")
        if not 0.0 <= lambd <= 1.0:
            raise InputError(f"lambd must be in [0, 1] (convex combination), got {lambd}")
        _check_grid(num_directions, num_points, t_max)
        self.num_global = num_global
        self.lambd = lambd
        self.num_directions = num_directions
        self.num_points = num_points
        self.t_max = t_max

    def forward(
        self, embeddings: Tensor, generator: torch.Generator | None = None, directions: Tensor | None = None
    ) -> LeJEPATerms:
        return lejepa_loss(
            embeddings,
            self.num_global,
            self.lambd,
            self.num_directions,
            self.num_points,
            self.t_max,
            generator,
            directions,
        )

    def extra_repr(self) -> str:
        return f"num_global={self.num_global}, lambd={self.lambd}, num_directions={self.num_directions}"
