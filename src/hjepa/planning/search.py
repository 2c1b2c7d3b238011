"""Spread search: breadth-first search over a small set of actions with a diverse frontier.

Sampling planners (MPPI, CEM) improve plans *locally*: in a maze, where the route to the goal
first leads away from it, almost no sampled plan finds the route and the cost gives no gradient
towards it. Exhaustive search finds it but grows as ``K ** T``. Spread search keeps a frontier of
``beam`` partial plans per problem; every step it expands each of them with each of the ``K``
actions and keeps the ``keep_best`` candidates of lowest cost so far plus, for the rest of the
beam, candidates chosen by farthest-point sampling in state space, so the frontier spreads over
the reachable states (through doors) instead of piling up at the wall nearest the goal. The plan
returned is the lowest-cost one seen at any depth, padded with zero actions to the horizon.

It is meant for short horizons over abstract actions (level 2 of a hierarchy, a few macro steps),
where ``T * beam * K`` predictor calls are cheap. Same interface as the other planners: plain
callables, batched over ``B`` problems, no state between calls (``warm_start`` is None, ``init``
is accepted and ignored). Costs must be evaluable on partial trajectories (any length ``t+1``),
as the closest-approach goal cost is.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.planning.base import Dynamics, PlanResult, TrajectoryCost, check_plan_inputs


class SpreadSearch:
    """Frontier search over a fixed action set.

    Args:
        actions: ``(K, A)`` the action set (e.g. macro-actions encoded from held directions).
        beam: partial plans kept per problem and depth.
        keep_best: of those, how many are the lowest-cost ones (the rest spread out), ``<= beam``.
        prefer_shorter: relative cost tolerance for returning a shorter plan (0: the lowest cost).

    Example:
        >>> directions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
        >>> planner = SpreadSearch(directions, beam=32, keep_best=8)
        >>> result = planner.plan(s0, dynamics, cost, horizon=6)  # doctest: +SKIP
    """

    def __init__(self, actions: Tensor, beam: int = 32, keep_best: int = 8, prefer_shorter: float = 0.0) -> None:
        if actions.dim() != 2 or actions.shape[0] < 2:
            raise InputError(f"actions must be (K, A) with K >= 2, got {tuple(actions.shape)}")
        if not torch.isfinite(actions).all():
            raise InputError("actions contain NaN or inf")
        if beam < 1 or not 0 <= keep_best <= beam:
            raise InputError(f"need beam >= 1 and 0 <= keep_best <= beam, got {beam}, {keep_best}")
        self.actions = actions.detach().clone()
        self.action_dim = actions.shape[1]
        if not prefer_shorter >= 0:
            raise InputError(f"prefer_shorter must be >= 0, got {prefer_shorter}")
        self.beam, self.keep_best, self.prefer_shorter = beam, keep_best, float(prefer_shorter)

    def plan(self, s0: Tensor, dynamics: Dynamics, cost: TrajectoryCost, horizon: int,
             init: Tensor | None = None, generator: torch.Generator | None = None) -> PlanResult:
        """Plan ``horizon`` actions from ``s0 (B, *state_shape)``.

        ``info``: ``iterations`` (= horizon), ``best_cost_history`` and ``mean_cost_history``
        ``(T, B)`` (best so far and frontier mean per depth), ``depth`` ``(B,)`` the length of
        the best plan before padding.
        """
        check_plan_inputs(s0, horizon, init, self.action_dim)
        with torch.no_grad():
            return self._plan(s0.detach(), dynamics, cost, horizon)

    def _plan(self, s0: Tensor, dynamics: Dynamics, cost: TrajectoryCost, horizon: int) -> PlanResult:
        batch, state_shape = s0.shape[0], tuple(s0.shape[1:])
        acts = self.actions.to(s0)
        k = acts.shape[0]
        traj = s0.unsqueeze(1).unsqueeze(2)  # (B, W=1, t+1=1, *state)
        plans = s0.new_zeros(batch, 1, 0, self.action_dim)  # (B, W, t, A)
        # Cost of standing still: the scale of the tolerance of prefer_shorter.
        still = cost(s0.unsqueeze(1).unsqueeze(2).expand(batch, 1, 2, *state_shape), plans.new_zeros(batch, 1, 1, self.action_dim))[:, 0]
        depth_cost, depth_plan = [], []  # per depth: the lowest cost (B,) and its plan (B, T, A)
        best_cost = torch.full((batch,), float("inf"), device=s0.device, dtype=s0.dtype)
        best_history, mean_history = [], []
        rows = torch.arange(batch, device=s0.device)
        for depth in range(1, horizon + 1):
            width = traj.shape[1]
            # Expand every frontier plan with every action: (B, W*K, ...).
            last = traj[:, :, -1].unsqueeze(2).expand(batch, width, k, *state_shape).reshape(batch, width * k, *state_shape)
            step_actions = acts.view(1, 1, k, -1).expand(batch, width, k, -1).reshape(batch, width * k, -1)
            nxt = dynamics(last.contiguous(), step_actions)
            traj = torch.cat([traj.repeat_interleave(k, dim=1), nxt.unsqueeze(2)], dim=2)
            plans = torch.cat([plans.repeat_interleave(k, dim=1), step_actions.unsqueeze(2)], dim=2)
            costs = torch.nan_to_num(cost(traj, plans), nan=float("inf"))  # (B, W*K)
            if tuple(costs.shape) != (batch, width * k):
                raise InputError(f"cost returned shape {tuple(costs.shape)}, expected {(batch, width * k)}")
            # Best plan of this depth (padded with zeros to the horizon).
            c, i = costs.min(dim=1)
            depth_cost.append(c)
            depth_plan.append(torch.cat([plans[rows, i], plans.new_zeros(batch, horizon - depth, self.action_dim)], dim=1))
            best_cost = torch.minimum(best_cost, c)
            best_history.append(best_cost.clone())
            mean_history.append(costs.mean(1))
            if depth < horizon:
                keep = self._select(costs, nxt.reshape(batch, width * k, -1))
                traj = traj[rows[:, None], keep]
                plans = plans[rows[:, None], keep]
        costs_by_depth = torch.stack(depth_cost, dim=1)  # (B, T)
        tolerance = self.prefer_shorter * torch.nan_to_num(still, nan=0.0, posinf=0.0).clamp_min(0.0)
        good = costs_by_depth <= (best_cost + tolerance).unsqueeze(1)
        chosen = good.float().argmax(dim=1)  # the first depth within tolerance of the best
        plan = torch.stack(depth_plan, dim=1)[rows, chosen]
        info = {"iterations": horizon, "best_cost_history": torch.stack(best_history),
                "mean_cost_history": torch.stack(mean_history), "depth": chosen + 1}
        return PlanResult(plan, costs_by_depth[rows, chosen], info, warm_start=None)

    def _select(self, costs: Tensor, states: Tensor) -> Tensor:
        """Indices (B, W') of the next frontier: the lowest-cost candidates, then farthest-point
        sampling (in state space) among all candidates, starting from those."""
        batch, n = costs.shape
        width = min(self.beam, n)
        n_best = min(self.keep_best, width)
        order = costs.argsort(dim=1)
        chosen = [order[:, j] for j in range(max(1, n_best))]
        rows = torch.arange(batch, device=costs.device)
        # Distance of every candidate to the nearest chosen one; diverged (non-finite) states never chosen.
        nearest = torch.full((batch, n), float("inf"), device=states.device, dtype=states.dtype)
        for idx in chosen:
            nearest = torch.minimum(nearest, (states - states[rows, idx].unsqueeze(1)).pow(2).sum(-1))
        bad = ~torch.isfinite(costs)
        for _ in range(width - len(chosen)):
            score = torch.where(bad, torch.full_like(nearest, -1.0), nearest)
            idx = score.argmax(dim=1)
            chosen.append(idx)
            nearest = torch.minimum(nearest, (states - states[rows, idx].unsqueeze(1)).pow(2).sum(-1))
        return torch.stack(chosen, dim=1)
