"""A trajectory cost measured in an embedding of the states.

Planners see states as the dynamics produce them. When a world model measures goal distances in
an embedding of its states (``JEPAWorldModel.embed``: a spatial feature map is a good state for
predicting but a poor ruler), the cost maps every predicted state through the embedding first.
The embedding is part of the trained world model and is not changed by planning.
"""

from __future__ import annotations

from typing import Callable

from torch import Tensor

from hjepa.planning.base import TrajectoryCost


class EmbeddedCost:
    """``cost(embed(states), actions)``: a planner cost ``(B, S, T+1, D), (B, S, T, A) -> (B, S)``.

    Args:
        embed: states ``(..., D) -> (..., E)``.
        cost: a trajectory cost on embedded states, e.g. ``IntrinsicCost(goal=embed(goal_state))``.

    Example:
        >>> cost = EmbeddedCost(model.embed, IntrinsicCost(model.embed(goal_state), reduce_min=True))  # doctest: +SKIP
    """

    def __init__(self, embed: Callable[[Tensor], Tensor], cost: TrajectoryCost) -> None:
        self.embed = embed
        self.cost = cost

    def __call__(self, states: Tensor, actions: Tensor) -> Tensor:
        return self.cost(self.embed(states), actions)
