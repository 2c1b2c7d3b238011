"""Gradient-based planning: descend the trajectory cost with respect to the action sequence.

This is Mode-2 inference as LeCun's paper describes it: the world model and the cost are
differentiable, so the action sequence is optimised by backpropagating the cost through the
unrolled predictor. Only the actions are leaves that require grad; gradients are taken with
``torch.autograd.grad`` with respect to them alone, so no ``.grad`` ever lands on model parameters.

Several restarts (the ``S`` dimension) are optimised together: restart 0 starts from the given
initial plan, the others from Gaussian perturbations of it; each problem keeps its best.
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
    finite_mean,
    initial_mean,
    rollout,
    sample_around,
    shift_plan,
    take_best,
)


class GradientPlanner:
    """Adam on the action sequence through differentiable dynamics and cost.

    Args:
        action_dim: ``A``.
        action_low, action_high: box bounds, scalars or ``(A,)``; actions are clamped into them
            after every step (projected gradient descent).
        iterations: Adam steps per call.
        lr: Adam learning rate (in action units: Adam's steps are about ``lr`` in size).
        restarts: plans optimised in parallel per problem; restart 0 is the initial plan.
        restart_std: std of the Gaussian perturbation that seeds restarts ``1..``.

    Example:
        >>> planner = GradientPlanner(2, -1.0, 1.0, iterations=50, lr=0.05, restarts=8)
        >>> result = planner.plan(s0, dynamics, cost, horizon=16, generator=gen)  # doctest: +SKIP
    """

    def __init__(
        self,
        action_dim: int,
        action_low: float | Sequence[float] | Tensor,
        action_high: float | Sequence[float] | Tensor,
        iterations: int = 50,
        lr: float = 0.05,
        restarts: int = 8,
        restart_std: float = 0.5,
    ) -> None:
        self.action_dim = action_dim
        self.action_low, self.action_high = action_bounds(action_dim, action_low, action_high)
        if iterations < 1:
            raise InputError(f"iterations must be >= 1, got {iterations}")
        if not lr > 0:
            raise InputError(f"lr must be > 0, got {lr}")
        if restarts < 1:
            raise InputError(f"restarts must be >= 1, got {restarts}")
        if not restart_std >= 0:
            raise InputError(f"restart_std must be >= 0, got {restart_std}")
        self.iterations = iterations
        self.lr = float(lr)
        self.restarts = restarts
        self.restart_std = float(restart_std)

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

        Works under ``torch.no_grad()`` / ``torch.inference_mode()`` too: gradients are switched
        back on inside. ``actions`` is the lowest-cost iterate over all steps and restarts;
        ``warm_start`` is it shifted by one step. ``info``: ``iterations``,
        ``best_cost_history``/``mean_cost_history`` ``(iterations + 1, B)`` (before each step and
        after the last), ``restart_cost`` ``(B, restarts)`` at the end.
        """
        check_plan_inputs(s0, horizon, init, self.action_dim)
        # inference_mode(False): a no-op unless called inside inference mode, where enable_grad
        # alone would not be enough. The clone turns an inference tensor into a normal one.
        with torch.inference_mode(False), torch.enable_grad():
            s0 = s0.detach().clone()
            init = None if init is None else init.detach().clone()
            result = self._plan(s0, dynamics, cost, horizon, init, generator)
        return result

    def _plan(self, s0, dynamics, cost, horizon, init, generator) -> PlanResult:
        low, high = self.action_low, self.action_high
        start = initial_mean(s0, horizon, init, low, high)
        batch = start.shape[0]
        if self.restarts > 1:
            std = torch.full_like(start, self.restart_std)
            seeds = sample_around(start, std, self.restarts, low, high, generator)
        else:
            seeds = start.unsqueeze(1)
        actions = seeds.detach().clone().requires_grad_(True)  # (B, R, T, A), the only leaf
        optimizer = torch.optim.Adam([actions], lr=self.lr)
        low_t, high_t = low.to(start), high.to(start)
        best_cost = torch.full((batch,), float("inf"), device=start.device, dtype=start.dtype)
        best_actions = start.clone()
        best_history, mean_history = [], []
        for step in range(self.iterations + 1):
            states = rollout(s0, actions, dynamics)
            costs = cost(states, actions)
            if tuple(costs.shape) != tuple(actions.shape[:2]):
                raise InputError(
                    f"cost returned shape {tuple(costs.shape)}, expected (B, S) = "
                    f"{tuple(actions.shape[:2])}"
                )
            detached = torch.nan_to_num(costs.detach(), nan=float("inf"))
            best_cost, best_actions = take_best(detached, actions.detach(), best_cost, best_actions)
            best_history.append(best_cost.clone())
            mean_history.append(finite_mean(detached))
            if step == self.iterations:
                break  # the last pass only scores the final iterate
            # Restarts and problems are independent: the gradient of the sum is each one's own
            # gradient, and Adam is elementwise. Diverged restarts contribute nothing.
            finite = torch.isfinite(detached)
            loss = torch.where(finite, costs, torch.zeros_like(costs)).sum()
            (grad,) = torch.autograd.grad(loss, [actions], allow_unused=True)
            if grad is None:
                grad = torch.zeros_like(actions)
            actions.grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
            optimizer.step()
            with torch.no_grad():
                actions.clamp_(low_t, high_t)  # projection onto the box
        restart_cost = detached
        best_actions = best_actions.detach()
        info = {
            "iterations": self.iterations,
            "best_cost_history": torch.stack(best_history),
            "mean_cost_history": torch.stack(mean_history),
            "restart_cost": restart_cost,
        }
        return PlanResult(best_actions, best_cost, info, warm_start=shift_plan(best_actions, 1))
