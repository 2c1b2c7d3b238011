"""MPPI: Model Predictive Path Integral control.

Williams et al., "Information Theoretic MPC for Model-Based Reinforcement Learning" (ICRA 2017).
Notation of the paper, per problem ``b``:

- ``u`` (here ``mean``, ``(B, T, A)``): the current control sequence,
- ``eps_k ~ N(0, Sigma)``: the ``K`` (here ``samples``) perturbations, ``v_k = u + eps_k``,
- ``S(v_k)``: the trajectory cost of perturbed sequence ``k``,
- ``rho = min_k S(v_k)``: subtracted for numerical stability,
- ``w_k = exp(-(S(v_k) - rho) / lambda) / eta``: the path-integral weights, ``eta`` normalises
  them to sum to one, ``lambda`` is the temperature,
- ``u <- sum_k w_k v_k``: the update (the paper writes ``u + sum_k w_k eps_k``; it is the same
  thing before clamping, and averaging the clamped ``v_k`` keeps ``u`` inside the bounds).

As in TD-MPC2's planner, the update can be iterated, restricted to the ``elites`` lowest-cost
samples, and the noise ``Sigma = diag(std^2)`` re-estimated from the weighted elites
(``adapt_std``). Everything is one tensor op over all ``B`` problems and ``K`` samples.
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


def mppi_weights(costs: Tensor, temperature: float) -> Tensor:
    """Path-integral weights ``w_k = softmax(-(S_k - rho) / lambda)`` over samples.

    Args:
        costs: ``S(v_k)``, ``(B, K)``; NaN and ``+inf`` get zero weight.
        temperature: ``lambda > 0``.

    Returns:
        ``(B, K)`` non-negative weights summing to one per problem; a problem whose costs are all
        non-finite gets uniform weights (nothing to prefer).
    """
    finite = torch.isfinite(costs)
    rho = torch.where(finite, costs, torch.full_like(costs, float("inf"))).amin(1, keepdim=True)
    rho = torch.where(torch.isfinite(rho), rho, torch.zeros_like(rho))
    neg_inf = torch.full_like(costs, -float("inf"))
    logits = torch.where(finite, -(costs - rho) / temperature, neg_inf)
    logits = torch.where(finite.any(1, keepdim=True), logits, torch.zeros_like(logits))
    return torch.softmax(logits, dim=1)


class MPPI:
    """Sampling-based planner: iterated, optionally elite-restricted, MPPI.

    Args:
        action_dim: ``A``.
        action_low, action_high: box bounds, scalars or ``(A,)``; infinities allowed.
        samples: ``K`` sampled sequences per problem and iteration (one of them is the mean).
        iterations: MPPI updates per call.
        temperature: ``lambda``; lower trusts the best samples more.
        noise_std: initial (and, without ``adapt_std``, fixed) std of ``eps``, scalar or ``(A,)``.
        elites: if given, weight only the ``elites`` lowest-cost samples (TD-MPC2 style).
        adapt_std: re-estimate the std from the weighted elites after each iteration.
        min_std, max_std: clamp of the adapted std.
        normalize_costs: divide each problem's costs by their spread over the samples before
            weighting, so ``temperature`` means the same for any cost scale (pixels or states).

    Example:
        >>> planner = MPPI(action_dim=2, action_low=-1.0, action_high=1.0, samples=256)
        >>> result = planner.plan(s0, dynamics, cost, horizon=16, generator=gen)  # doctest: +SKIP
        >>> env.step(result.actions[:, 0]); next_init = result.warm_start  # doctest: +SKIP
    """

    def __init__(
        self,
        action_dim: int,
        action_low: float | Sequence[float] | Tensor,
        action_high: float | Sequence[float] | Tensor,
        samples: int = 256,
        iterations: int = 6,
        temperature: float = 0.5,
        noise_std: float | Sequence[float] | Tensor = 0.5,
        elites: int | None = None,
        adapt_std: bool = False,
        min_std: float = 0.05,
        max_std: float = 2.0,
        normalize_costs: bool = False,
    ) -> None:
        self.action_dim = action_dim
        self.action_low, self.action_high = action_bounds(action_dim, action_low, action_high)
        if samples < 2:
            raise InputError(f"samples must be >= 2 (one is the mean), got {samples}")
        if iterations < 1:
            raise InputError(f"iterations must be >= 1, got {iterations}")
        if not temperature > 0:
            raise InputError(f"temperature must be > 0, got {temperature}")
        if elites is not None and not 1 <= elites <= samples:
            raise InputError(f"elites must be in [1, samples={samples}], got {elites}")
        if not 0 <= min_std <= max_std:
            raise InputError(f"need 0 <= min_std <= max_std, got {min_std}, {max_std}")
        std = torch.as_tensor(noise_std, dtype=torch.float64).flatten()
        if std.numel() not in (1, action_dim) or not (torch.isfinite(std) & (std >= 0)).all():
            raise InputError(f"noise_std must be >= 0, scalar or ({action_dim},), got {noise_std}")
        self.noise_std = std.expand(action_dim).clone()
        self.samples = samples
        self.iterations = iterations
        self.temperature = float(temperature)
        self.elites = elites
        self.adapt_std = adapt_std
        self.min_std = float(min_std)
        self.max_std = float(max_std)
        self.normalize_costs = normalize_costs

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

        Returns a :class:`PlanResult` whose ``actions`` is the lowest-cost sequence seen (the
        final mean ``u`` included) and ``warm_start`` the final mean shifted by one step.
        ``info``: ``iterations``, ``best_cost_history``/``mean_cost_history`` ``(I, B)``,
        ``weights`` ``(B, K or elites)`` of the last iteration, ``std`` ``(B, T, A)``,
        ``mean`` ``(B, T, A)`` and ``mean_cost`` ``(B,)``.
        """
        check_plan_inputs(s0, horizon, init, self.action_dim)
        with torch.no_grad():
            return self._plan(s0.detach(), dynamics, cost, horizon, init, generator)

    def _plan(self, s0, dynamics, cost, horizon, init, generator) -> PlanResult:
        low, high = self.action_low, self.action_high
        mean = initial_mean(s0, horizon, init, low, high)  # u
        batch = mean.shape[0]
        std = self.noise_std.to(mean).expand_as(mean).clone()
        best_cost = torch.full((batch,), float("inf"), device=mean.device, dtype=mean.dtype)
        best_actions = mean.clone()
        best_history, mean_history = [], []
        for _ in range(self.iterations):
            candidates = sample_around(mean, std, self.samples, low, high, generator)  # v_k
            costs = evaluate(s0, candidates, dynamics, cost)  # S(v_k), (B, K)
            best_cost, best_actions = take_best(costs, candidates, best_cost, best_actions)
            best_history.append(best_cost.clone())
            mean_history.append(finite_mean(costs))
            if self.elites is not None and self.elites < self.samples:
                costs, index = torch.topk(costs, self.elites, dim=1, largest=False)
                candidates = candidates.gather(
                    1, index[:, :, None, None].expand(-1, -1, horizon, self.action_dim)
                )
            if self.normalize_costs:  # scale-free temperature: costs in units of their spread
                finite = torch.isfinite(costs)
                spread = torch.where(finite, costs, torch.nan).nan_to_num(0.0).std(1, keepdim=True)
                costs = costs / spread.clamp_min(1e-8)
            weights = mppi_weights(costs, self.temperature)  # w_k, (B, K)
            w = weights[:, :, None, None]
            mean = (w * candidates).sum(1)  # u <- sum_k w_k v_k
            if self.adapt_std:
                var = (w * (candidates - mean.unsqueeze(1)).square()).sum(1)
                std = var.sqrt().clamp(self.min_std, self.max_std)
        # The weighted mean itself was never evaluated after the last update: do it once.
        mean_cost = evaluate(s0, mean.unsqueeze(1), dynamics, cost)
        best_cost, best_actions = take_best(mean_cost, mean.unsqueeze(1), best_cost, best_actions)
        info = {
            "iterations": self.iterations,
            "best_cost_history": torch.stack(best_history),
            "mean_cost_history": torch.stack(mean_history),
            "weights": weights,
            "std": std,
            "mean": mean,
            "mean_cost": mean_cost[:, 0],
        }
        return PlanResult(best_actions, best_cost, info, warm_start=shift_plan(mean, 1))

