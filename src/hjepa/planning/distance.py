"""Hierarchical planning guided by a learned temporal distance (:mod:`hjepa.world.temporal_distance`).

With ``d(s2, g2)`` the learned number of macro steps between two level-2 states:

* **level 2** scores a plan ``s2[0], s2[1], ..., s2[T]`` (predicted by the level-2 model) by

      min over t >= 1 of (t + d(s2[t], goal))  +  leak * sum_t max(0, d(s2[t-1], s2[t]) - reach)

  The first term is the plan's macro steps plus what ``d`` says is left after them, so a short
  search is enough however far the goal is: ``d`` carries the rest, walls included. The second is
  the reachability check: a predicted step that ``d`` says takes more than ``reach`` macro steps is
  a model error (typically a step through a wall) and is penalised rather than exploited.
* **level 1** scores its trajectory's level-2 states ``abstract(s1[t])`` by their closest approach
  in ``d`` to the subgoal, plus ``goal_weight`` times their closest approach to the goal (the
  subgoal says which way now; the goal term keeps level 1 moving when the subgoal is vague);
* the goal is **near** (level 1 aims at it directly) when ``d(s2, goal) <= radius``.

:class:`DistanceGuidance` bundles the three for a
:class:`~hjepa.planning.hierarchical.TwoLevelProblem`; :func:`distance_to_goal_cost` is the same
distance as a flat planner's cost. Shapes: level-2 trajectories ``(B, S, T+1, D)``, goals
``(B, D)``, costs ``(B, S)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.planning.base import TrajectoryCost

Distance = Callable[[Tensor, Tensor], Tensor]
"""``d(state (..., D), goal (..., D)) -> (...)`` in macro steps."""


def closest_in_distance(distance: Distance, states: Tensor, target: Tensor) -> Tensor:
    """``min_t d(states[:, :, t], target)`` for states ``(B, S, T, D)`` and targets ``(B, D)``: ``(B, S)``."""
    return closest_to_targets(distance, states, target.unsqueeze(0))[0]


def closest_to_targets(distance: Distance, states: Tensor, targets: Tensor) -> Tensor:
    """``min_t d(states[:, :, t], targets[k])`` for states ``(B, S, T, D)`` and ``K`` targets ``(K, B, D)``:
    ``(K, B, S)``. A distance with a ``to_targets`` method (an embedding,
    :class:`~hjepa.world.temporal_distance.TemporalDistance`) measures each state once for all targets."""
    to_targets = getattr(distance, "to_targets", None)
    if to_targets is not None:
        return to_targets(states, targets).min(dim=-1).values
    return torch.stack([distance(states, t[:, None, None, :].expand_as(states)) for t in targets]).min(dim=-1).values


def check_guidance(leak: float, reach: float, goal_weight: float, radius: float, prefix: str = "") -> None:
    """One line naming the bad value unless ``leak >= 0, reach > 0, goal_weight >= 0, radius > 0``
    (``prefix``: how a configuration names them, e.g. ``'distance.'``)."""
    if not (leak >= 0 and reach > 0 and goal_weight >= 0 and radius > 0):
        raise InputError(f"need {prefix}leak >= 0, {prefix}reach > 0, {prefix}goal_weight >= 0 and {prefix}radius > 0; "
                         f"got {leak}, {reach}, {goal_weight}, {radius}")


@dataclass(frozen=True)
class DistanceGuidance:
    """Level 2's cost, level 1's cost and the 'near' test from one learned distance (module docstring).

    Args:
        distance: ``d`` in macro steps.
        leak: weight of the reachability penalty at level 2 (0: none).
        reach: macro steps a predicted level-2 step may take by ``d`` before it counts as a leak.
        goal_weight: weight of level 1's approach to the goal beside its approach to the subgoal.
        radius: the goal is near (level 1 aims at it) within this many macro steps.
    """

    distance: Distance
    leak: float = 2.0
    reach: float = 1.0
    goal_weight: float = 0.3
    radius: float = 1.5

    def __post_init__(self) -> None:
        check_guidance(self.leak, self.reach, self.goal_weight, self.radius)

    def high_cost(self, goal: Tensor) -> TrajectoryCost:
        """Level 2's cost of trajectories ``(B, S, T+1, D)`` for goals ``goal (B, D)``."""

        def cost(states: Tensor, actions: Tensor) -> Tensor:
            if states.dim() != 4 or states.shape[0] != goal.shape[0] or states.shape[-1] != goal.shape[-1]:
                raise InputError(f"level-2 trajectories must be (B, S, T+1, {goal.shape[-1]}) with B={goal.shape[0]}, "
                                 f"got {tuple(states.shape)}")
            later = states[:, :, 1:]  # (B, S, T, D)
            to_go = self.distance(later, goal[:, None, None, :].expand_as(later))  # (B, S, T)
            steps = torch.arange(1, later.shape[2] + 1, dtype=to_go.dtype, device=to_go.device)
            total = (to_go + steps).min(dim=-1).values
            if self.leak:
                hops = self.distance(states[:, :, :-1], later)  # (B, S, T)
                total = total + self.leak * (hops - self.reach).clamp(min=0).sum(-1)
            return total

        return cost

    def near(self, state: Tensor, goal: Tensor) -> Tensor:
        """``(B, D), (B, D) -> (B,)`` bool: ``d(state, goal) <= radius``."""
        return self.distance(state, goal) <= self.radius

    def toward(self, subgoal: Tensor, goal: Tensor) -> Callable[[Tensor], Tensor]:
        """Level 1's cost of its level-2 states ``(B, S, T, D)`` for ``subgoal, goal (B, D)``: ``(B, S)``."""

        if not self.goal_weight:
            return lambda states: closest_in_distance(self.distance, states, subgoal)
        targets = torch.stack([subgoal, goal])  # (2, B, D)

        def cost(states: Tensor) -> Tensor:
            closest = closest_to_targets(self.distance, states, targets)  # (2, B, S)
            return closest[0] + self.goal_weight * closest[1]

        return cost


def distance_to_goal_cost(distance: Distance, abstract: Callable[[Tensor], Tensor], goal: Tensor) -> TrajectoryCost:
    """A flat planner's cost with the same distance: ``min_t d(abstract(s1[t]), abstract(goal))``
    over steps ``1..T`` of level-1 trajectories ``(B, S, T+1, *S1)``, goals ``(B, *S1)``."""
    goal2 = abstract(goal)

    def cost(states: Tensor, actions: Tensor) -> Tensor:
        return closest_in_distance(distance, abstract(states[:, :, 1:]), goal2)

    return cost
