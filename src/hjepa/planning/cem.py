"""CEM: the cross-entropy method over action sequences (Rubinstein, 1999; as used in PlaNet).

Each iteration samples ``samples`` sequences from a diagonal Gaussian ``N(mean, std^2)`` per
problem (the mean itself is candidate 0), keeps the ``elites`` lowest-cost ones, and moves the
Gaussian to their empirical mean and std, smoothed by ``momentum``:
``mean <- momentum * mean + (1 - momentum) * elite_mean`` (same for ``std``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.planning.base import (
    Dynamics,
    PlanResult,
    TrajectoryCost,
    action_bounds,
    check_plan_inputs,
    evaluate,
    finite_mean,
    initial_mean,
    sample_around,
    shift_plan,
    take_best,
)


class CEM:
    """Cross-entropy-method planner, batched over problems and samples.

    Args:
        action_dim: ``A``.
        action_low, action_high: box bounds, scalars or ``(A,)``; infinities allowed.
        samples: sequences sampled per problem and iteration (one of them is the mean).
        elites: how many of the lowest-cost samples refit the Gaussian, ``1 <= elites <= samples``.
        iterations: refits per call.
        init_std: std of the sampling Gaussian at the start of every call, scalar or ``(A,)``.
        min_std: floor of the std, keeps the search from collapsing early.
        momentum: weight of the old mean/std in the update, in ``[0, 1)``.

    Example:
        >>> planner = CEM(2, -1.0, 1.0, samples=256, elites=32, iterations=6)
        >>> result = planner.plan(s0, dynamics, cost, horizon=16, generator=gen)  # doctest: +SKIP
    """

    def __init__(
        self,
        action_dim: int,
        action_low: float | Sequence[float] | Tensor,
        action_high: float | Sequence[float] | Tensor,
        samples: int = 256,
        elites: int = 32,
        iterations: int = 6,
        init_std: float | Sequence[float] | Tensor = 0.5,
        min_std: float = 0.05,
        momentum: float = 0.1,
    ) -> None:
        self.action_dim = action_dim
        self.action_low, self.action_high = action_bounds(action_dim, action_low, action_high)
        if samples < 2:
            raise InputError(f"samples must be >= 2 (one is the mean), got {samples}")
        if not 1 <= elites <= samples:
            raise InputError(f"elites must be in [1, samples={samples}], got {elites}")
        if iterations < 1:
            raise InputError(f"iterations must be >= 1, got {iterations}")
        if not 0 <= momentum < 1:
            raise InputError(f"momentum must be in [0, 1), got {momentum}")
        if not min_std >= 0:
            raise InputError(f"min_std must be >= 0, got {min_std}")
        std = torch.as_tensor(init_std, dtype=torch.float64).flatten()
        if std.numel() not in (1, action_dim) or not (torch.isfinite(std) & (std >= 0)).all():
            raise InputError(f"init_std must be >= 0, scalar or ({action_dim},), got {init_std}")
        self.init_std = std.expand(action_dim).clone()
        self.samples = samples
        self.elites = elites
        self.iterations = iterations
        self.min_std = float(min_std)
        self.momentum = float(momentum)

    def plan(
        self,
        s0: Tensor,
        dynamics: Dynamics,
        cost: TrajectoryCost,
        horizon: int,
        init: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """Plan ``horizon`` actions from ``s0 (B, *state_shape)``; ``init (B, horizon, A)``.

        ``actions`` is the lowest-cost sequence seen (final mean included); ``warm_start`` the
        final mean shifted by one step. ``info``: ``iterations``, ``best_cost_history`` and
        ``mean_cost_history`` ``(I, B)``, ``elite_cost_history`` ``(I, B)`` (mean elite cost),
        ``mean``/``std`` ``(B, T, A)``, ``mean_cost`` ``(B,)``.
        """
        check_plan_inputs(s0, horizon, init, self.action_dim)
        with torch.no_grad():
            return self._plan(s0.detach(), dynamics, cost, horizon, init, generator)

    def _plan(self, s0, dynamics, cost, horizon, init, generator) -> PlanResult:
        low, high = self.action_low, self.action_high
        mean = initial_mean(s0, horizon, init, low, high)
        batch = mean.shape[0]
        std = self.init_std.to(mean).expand_as(mean).clone()
        best_cost = torch.full((batch,), float("inf"), device=mean.device, dtype=mean.dtype)
        best_actions = mean.clone()
        best_history, mean_history, elite_history = [], [], []
        for _ in range(self.iterations):
            candidates = sample_around(mean, std, self.samples, low, high, generator)
            costs = evaluate(s0, candidates, dynamics, cost)  # (B, S), NaN -> inf
            best_cost, best_actions = take_best(costs, candidates, best_cost, best_actions)
            best_history.append(best_cost.clone())
            mean_history.append(finite_mean(costs))
            elite_costs, index = torch.topk(costs, self.elites, dim=1, largest=False)
            elite_history.append(finite_mean(elite_costs))
            elite = candidates.gather(
                1, index[:, :, None, None].expand(-1, -1, horizon, self.action_dim)
            )
            elite_mean = elite.mean(1)
            # Population std (correction=0): with elites == 1 it is 0 instead of NaN.
            elite_std = elite.std(1, correction=0)
            mean = self.momentum * mean + (1 - self.momentum) * elite_mean
            std = (self.momentum * std + (1 - self.momentum) * elite_std).clamp(min=self.min_std)
        mean_cost = evaluate(s0, mean.unsqueeze(1), dynamics, cost)
        best_cost, best_actions = take_best(mean_cost, mean.unsqueeze(1), best_cost, best_actions)
        info = {
            "iterations": self.iterations,
            "best_cost_history": torch.stack(best_history),
            "mean_cost_history": torch.stack(mean_history),
            "elite_cost_history": torch.stack(elite_history),
            "mean": mean,
            "std": std,
            "mean_cost": mean_cost[:, 0],
        }
        return PlanResult(best_actions, best_cost, info, warm_start=shift_plan(mean, 1))
