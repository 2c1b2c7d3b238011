"""The critic as a terminal cost: what a short-horizon planner minimises when it has a critic.

    ``J(a_0..a_{T-1}) = sum_{t<T} discount^t c(s_{t+1}, a_t) + weight * discount^T V(s_T, g)``

``c`` is the intrinsic cost's per-step cost (:meth:`~hjepa.cost.intrinsic.IntrinsicCost.step_cost`)
and ``V`` any value function of (state, goal) — in practice the trained
:class:`~hjepa.agent.critic.Critic` (its training is the agent's business, :mod:`hjepa.agent.critic_training`).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.errors import InputError


class ValueFunction(Protocol):
    """``V(state (B, S, D), goal (B, 1, G)) -> (B, S)``: predicted discounted future intrinsic cost."""

    def __call__(self, state: Tensor, goal: Tensor) -> Tensor: ...


class CriticPlanningCost:
    """Trajectory cost ``(states (B, S, T+1, D), actions (B, S, T, A)) -> (B, S)`` for any planner:
    the discounted intrinsic step costs over the horizon plus the critic at the last state.

    Args:
        intrinsic: the (goal-carrying) intrinsic cost whose ``step_cost`` is summed.
        critic: the trained critic, or None for the discounted sum alone.
        goal_input: ``(B, G)`` what the critic is conditioned on for each problem.
        discount: per planner step, the one the critic was trained with.
        critic_weight: multiplies the terminal value (1 is the Bellman form).
    """

    def __init__(self, intrinsic: IntrinsicCost, critic: ValueFunction | None, goal_input: Tensor | None,
                 discount: float, critic_weight: float = 1.0) -> None:
        if not 0.0 <= discount <= 1.0:
            raise InputError(f"discount must be in [0, 1], got {discount}")
        if critic is not None and (goal_input is None or goal_input.dim() != 2):
            raise InputError("a critic needs goal_input of shape (B, G)")
        if not critic_weight >= 0:
            raise InputError(f"critic_weight must be >= 0, got {critic_weight}")
        self.intrinsic = intrinsic
        self.critic = critic
        self.goal_input = None if goal_input is None else goal_input.detach()
        self.discount = float(discount)
        self.critic_weight = float(critic_weight)

    def terms(self, states: Tensor, actions: Tensor) -> dict[str, Tensor]:
        """``intrinsic`` (discounted sum over the horizon) and ``critic`` (discounted terminal value), each ``(B, S)``."""
        steps = self.intrinsic.step_cost(states, actions)  # (B, S, T)
        horizon = steps.shape[-1]
        powers = self.discount ** torch.arange(horizon, dtype=steps.dtype, device=steps.device)
        out = {"intrinsic": (steps * powers).sum(-1)}
        if self.critic is not None:
            assert self.goal_input is not None
            batch, samples = states.shape[:2]
            last = states[:, :, -1].reshape(batch, samples, -1)
            goal = self.goal_input.to(last)[:, None, :]
            if goal.shape[0] not in (1, batch):
                raise InputError(f"goal_input has batch {goal.shape[0]}, states have {batch}")
            out["critic"] = self.critic_weight * self.discount**horizon * self.critic(last, goal)
        return out

    def __call__(self, states: Tensor, actions: Tensor) -> Tensor:
        return sum(self.terms(states, actions).values())
