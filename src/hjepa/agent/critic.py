"""The trainable part of the cost module: a critic of future intrinsic cost (the planning cost that
uses it as a terminal cost is :class:`hjepa.cost.terminal.CriticPlanningCost`).

The critic ``V(s, g)`` predicts the discounted sum of the intrinsic cost the agent will pay from
state ``s`` while pursuing goal ``g`` (the cost-to-go). It is trained from short-term memory
(:mod:`hjepa.agent.critic_training`). A planner that sees only ``T`` steps ahead then minimises

    ``J(a_0..a_{T-1}) = sum_{t<T} discount^t c(s_{t+1}, a_t) + weight * discount^T V(s_T, g)``

(:class:`~hjepa.cost.terminal.CriticPlanningCost`), the Bellman form of the infinite-horizon objective, so a short
horizon plans like a long one wherever the critic is right. ``c`` is the intrinsic cost's
per-step cost (:meth:`~hjepa.cost.intrinsic.IntrinsicCost.step_cost`).

The intrinsic cost's goal term in representation space saturates a few pixels away from the
goal (far states are all "far"), so without a critic a plan must come close to the goal within its
horizon to see any difference between actions; the critic's value keeps decreasing all the way.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.mlp import mlp


class Critic(nn.Module):
    """``V(state, goal)``: predicted discounted future intrinsic cost, ``>= 0``.

    Args:
        state_dim: ``D``.
        goal_dim: ``G`` (the goal's representation; when ``G == D`` the difference ``s - g`` is an
            extra input).
        hidden: width of the MLP.
        layers: linear layers of the MLP.
        value_scale: typical size of the values (e.g. the mean return in memory); the network
            predicts ``V / value_scale`` so its outputs stay of order one.

    Shapes: ``state (..., D)``, ``goal (..., G)`` (broadcast against each other) -> ``(...)``.
    """

    def __init__(self, state_dim: int, goal_dim: int, hidden: int = 256, layers: int = 3,
                 value_scale: float = 1.0) -> None:
        super().__init__()
        if state_dim < 1 or goal_dim < 1:
            raise InputError(f"state_dim and goal_dim must be >= 1, got {state_dim} and {goal_dim}")
        if not value_scale > 0:
            raise InputError(f"value_scale must be > 0, got {value_scale}")
        self.state_dim, self.goal_dim = state_dim, goal_dim
        self.use_difference = state_dim == goal_dim
        in_dim = state_dim + goal_dim + (state_dim if self.use_difference else 0)
        self.net = mlp(in_dim, hidden, 1, layers)
        self.register_buffer("value_scale", torch.tensor(float(value_scale)))

    def features(self, state: Tensor, goal: Tensor) -> Tensor:
        """``[s, g, s - g]`` (or ``[s, g]``), ``(..., in_dim)``."""
        if state.shape[-1] != self.state_dim or goal.shape[-1] != self.goal_dim:
            raise InputError(
                f"critic expects state (..., {self.state_dim}) and goal (..., {self.goal_dim}), "
                f"got {tuple(state.shape)} and {tuple(goal.shape)}"
            )
        state, goal = torch.broadcast_tensors(state, goal) if self.use_difference else (
            state, goal.expand(*state.shape[:-1], self.goal_dim))
        parts = [state, goal] + ([state - goal] if self.use_difference else [])
        return torch.cat(parts, dim=-1)

    def normalized(self, state: Tensor, goal: Tensor) -> Tensor:
        """``V / value_scale``, what the training loss compares, ``(...)``."""
        return nn.functional.softplus(self.net(self.features(state, goal))).squeeze(-1)

    def forward(self, state: Tensor, goal: Tensor) -> Tensor:
        return self.value_scale * self.normalized(state, goal)
