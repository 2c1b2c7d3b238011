"""Hierarchical planning (H-JEPA): level 2 picks subgoals, level 1 plans to reach them.

LeCun's hierarchical Mode-2: the higher level plans over a longer time scale in a more abstract
state, and its actions are *objectives* for the level below. Here:

1. **Level 2** plans ``high_horizon`` macro-actions from the abstract state ``s2 = abstract(s1)``
   with its own planner, minimising the goal cost (closest predicted approach to the goal's
   abstract state ``abstract(goal1)``). The predicted level-2 state after ``subgoal_step`` macro
   steps is the **subgoal**. Level 2 replans every ``replan_every`` level-1 decisions, warm-started
   from its previous plan.
2. **Level 1** plans ``low_horizon`` actions minimising the closest approach of
   ``abstract(predicted s1)`` to the subgoal, i.e. the distance to the subgoal's representation.
   When level 2's best plan gets closest to the goal within the first ``subgoal_step`` macro steps
   (or no plan gets closer than the current state), the goal itself is near: level 1 then aims at
   the goal's level-1 representation directly. Level 1
   replans at every call (receding horizon, warm-started).

The planner sees only callables (:class:`TwoLevelProblem`), batched over ``B`` problems, and
returns everything it carries between calls (:class:`HierarchyState`) instead of hiding it, like
the :class:`~hjepa.planning.base.Planner` protocol. With the true simulator as both levels'
dynamics it picks the door as subgoal (``tests/test_hierarchical_planner.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.planning.base import Dynamics, Planner, PlanResult, TrajectoryCost, rollout
from hjepa.planning.latent import closest_approach, deterministic_cost, identity


@dataclass
class TwoLevelProblem:
    """The callables of one hierarchical planning problem.

    Attributes:
        low_dynamics: level-1 :data:`~hjepa.planning.base.Dynamics` on ``(B, S, *S1)``.
        high_dynamics: level-2 dynamics on level-2 planner states ``(B, S, *H)``.
        abstract: ``s1 (..., *S1) -> s2 (..., D2)`` (identity when both levels share a state).
        high_cost: ``goal2 (B, D2) -> TrajectoryCost`` on level-2 trajectories ``(B, S, T+1, *H)``;
            default: closest approach in squared distance.
        lift: ``s2 (B, D2) -> level-2 planner state (B, *H)`` (e.g. one copy per z draw,
            :class:`~hjepa.planning.latent.LatentSamples`); default identity.
        lower: ``(..., *H) -> (..., D2)``, the subgoal read from a planner state; default identity.
        near: ``s2 (B, D2), goal2 (B, D2) -> (B,) bool``, the goal is within level 1's reach; default
            (None): level 2's closest approach comes within ``subgoal_step`` macro steps, in squared
            distance (a learned temporal distance decides better where walls bend the way,
            :mod:`hjepa.planning.distance`).
        toward: ``subgoal (B, D2), goal2 (B, D2) -> cost`` of level 1's level-2 states ``(B, S, T, D2)``
            (steps ``1..T``), ``(B, S)``; default (None): the closest approach to the subgoal in squared
            distance.
    """

    low_dynamics: Dynamics
    high_dynamics: Dynamics
    abstract: Callable[[Tensor], Tensor] = identity
    high_cost: Callable[[Tensor], TrajectoryCost] = deterministic_cost
    lift: Callable[[Tensor], Tensor] = identity
    lower: Callable[[Tensor], Tensor] = identity
    near: Callable[[Tensor, Tensor], Tensor] | None = None
    toward: Callable[[Tensor, Tensor], Callable[[Tensor], Tensor]] | None = None


@dataclass
class HierarchyState:
    """What the planner carries from one call to the next (for ``B`` problems).

    high_warm (B, H2, U) and low_warm (B, H1, A): warm starts; subgoal (B, D2); final (B,) bool:
    level 1 aims at the goal itself; high_path (B, H2+1, D2): level 2's predicted path;
    since_high: level-1 decisions since level 2 last planned.
    """

    high_warm: Tensor | None = None
    low_warm: Tensor | None = None
    subgoal: Tensor | None = None
    final: Tensor | None = None
    high_path: Tensor | None = None
    since_high: int = 0

    def index(self, rows: Tensor) -> "HierarchyState":
        """The state of problems ``rows`` (M,) only."""
        pick = lambda t: None if t is None else t[rows.to(t.device)]  # noqa: E731
        return HierarchyState(pick(self.high_warm), pick(self.low_warm), pick(self.subgoal), pick(self.final),
                              pick(self.high_path), self.since_high)

    def update(self, rows: Tensor, part: "HierarchyState", batch: int) -> "HierarchyState":
        """This state with problems ``rows`` replaced by ``part`` (of ``len(rows)`` problems)."""
        def put(full: Tensor | None, new: Tensor | None) -> Tensor | None:
            if new is None:
                return full
            if full is None or full.shape[1:] != new.shape[1:]:
                full = new.new_zeros(batch, *new.shape[1:])
            else:
                full = full.clone()
            full[rows.to(new.device)] = new
            return full

        return HierarchyState(put(self.high_warm, part.high_warm), put(self.low_warm, part.low_warm),
                              put(self.subgoal, part.subgoal), put(self.final, part.final),
                              put(self.high_path, part.high_path), part.since_high)


@dataclass
class HierarchicalResult:
    """``actions`` (B, H1, A): execute ``actions[:, 0]``; ``low``/``high`` the two levels'
    :class:`PlanResult` (``high`` is None when level 2 did not replan); ``state`` for the next call."""

    actions: Tensor
    low: PlanResult
    high: PlanResult | None
    state: HierarchyState
    info: dict[str, Any] = field(default_factory=dict)


class HierarchicalPlanner:
    """Two planners, two horizons, two replanning rates.

    Args:
        high: level-2 :class:`~hjepa.planning.base.Planner` (over macro-actions).
        low: level-1 planner (over environment actions).
        high_horizon: level-2 steps per plan ``H2``.
        low_horizon: level-1 steps per plan ``H1`` (enough to reach a subgoal ``subgoal_step``
            macro steps away).
        replan_every: level-1 decisions between two level-2 plans (>= 1).
        subgoal_step: which predicted level-2 state becomes the subgoal (1 = the next one).
    """

    def __init__(self, high: Planner, low: Planner, high_horizon: int, low_horizon: int,
                 replan_every: int = 1, subgoal_step: int = 1) -> None:
        for name, value in (("high_horizon", high_horizon), ("low_horizon", low_horizon),
                            ("replan_every", replan_every), ("subgoal_step", subgoal_step)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an int >= 1, got {value!r}")
        if subgoal_step > high_horizon:
            raise InputError(f"subgoal_step {subgoal_step} exceeds high_horizon {high_horizon}")
        self.high, self.low = high, low
        self.high_horizon, self.low_horizon = high_horizon, low_horizon
        self.replan_every, self.subgoal_step = replan_every, subgoal_step

    def plan_subgoals(self, s2: Tensor, goal2: Tensor, problem: TwoLevelProblem, init: Tensor | None,
                      generator: torch.Generator | None) -> tuple[PlanResult, Tensor, Tensor, Tensor]:
        """Level 2 alone: (its PlanResult, subgoal (B, D2), final (B,) bool, path (B, H2+1, D2))."""
        start = problem.lift(s2)
        result = self.high.plan(start, problem.high_dynamics, problem.high_cost(goal2), self.high_horizon,
                                init=init, generator=generator)
        with torch.no_grad():
            path = problem.lower(rollout(start, result.actions.unsqueeze(1), problem.high_dynamics)[:, 0])
        dist = (path - goal2.unsqueeze(1)).pow(2).sum(-1)  # (B, H2+1)
        nearest = dist[:, 1:].argmin(dim=1) + 1  # the step of closest approach, >= 1
        # The goal is near when level 2 gets closest to it within the first subgoal_step macro
        # steps, or cannot get any closer than where the agent already is.
        final = (nearest <= self.subgoal_step) | (dist[:, 0] <= dist[:, 1:].min(dim=1).values)
        if problem.near is not None:
            with torch.no_grad():
                final = problem.near(s2, goal2)
        return result, path[:, self.subgoal_step], final, path

    def plan(self, s1: Tensor, goal1: Tensor, problem: TwoLevelProblem, state: HierarchyState | None = None,
             generator: torch.Generator | None = None) -> HierarchicalResult:
        """Plan from level-1 states ``s1 (B, *S1)`` to goals ``goal1 (B, *S1)``."""
        if s1.shape != goal1.shape:
            raise InputError(f"s1 {tuple(s1.shape)} and goal1 {tuple(goal1.shape)} must have the same shape")
        state = state or HierarchyState()
        with torch.no_grad():
            s2, goal2 = problem.abstract(s1), problem.abstract(goal1)
        if s2.shape != goal2.shape or s2.dim() != 2:
            raise InputError(f"abstract() must map (B, *S1) to (B, D2), got {tuple(s2.shape)}")
        high_result = None
        if state.subgoal is None or state.since_high >= self.replan_every:
            high_result, subgoal, final, path = self.plan_subgoals(s2, goal2, problem, state.high_warm, generator)
            state = replace(state, high_warm=high_result.warm_start, subgoal=subgoal, final=final,
                            high_path=path, since_high=0)
        low_cost = self._low_cost(problem, state.subgoal, state.final, goal1, goal2)
        low_result = self.low.plan(s1, problem.low_dynamics, low_cost, self.low_horizon, init=state.low_warm,
                                   generator=generator)
        state = replace(state, low_warm=low_result.warm_start, since_high=state.since_high + 1)
        info = {"subgoal": state.subgoal, "final": state.final, "high_path": state.high_path,
                "replanned_high": high_result is not None}
        return HierarchicalResult(low_result.actions, low_result, high_result, state, info)

    @staticmethod
    def _low_cost(problem: TwoLevelProblem, subgoal: Tensor, final: Tensor, goal1: Tensor, goal2: Tensor) -> TrajectoryCost:
        """Level 1's cost: ``problem.toward`` (default: closest approach of ``abstract(s1)`` to the
        subgoal), or the closest approach of ``s1`` to the goal for problems whose goal is within
        reach (``final``)."""
        event = goal1.dim() - 1
        toward = problem.toward(subgoal, goal2) if problem.toward is not None else None

        def cost(states: Tensor, actions: Tensor) -> Tensor:
            if toward is not None:
                to_subgoal = toward(problem.abstract(states[:, :, 1:]))  # (B, S)
            else:
                to_subgoal = closest_approach(problem.abstract(states), subgoal, event_dims=1)
            to_goal = closest_approach(states, goal1, event_dims=event)
            return torch.where(final.unsqueeze(1), to_goal, to_subgoal)

        return cost
