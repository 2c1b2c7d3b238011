"""Mode-2 planner settings, and the one place that turns them into a planner.

Every command plans with a :class:`PlanConfig`; each recipe gives it the defaults that suit its
environment (Two Rooms: MPPI over 16 held moves, the pixel environments: DINO-WM's CEM 300 x 30
over 5 macro actions, the maze: the MPPI budget of both of its planners), and
:func:`make_planner` builds the optimiser on a box ``[-bound, bound]^A``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hjepa.errors import InputError
from hjepa.planning.base import Planner
from hjepa.planning.cem import CEM
from hjepa.planning.gradient import GradientPlanner
from hjepa.planning.mppi import MPPI

PlannerName = Literal["mppi", "cem", "gradient"]


@dataclass(frozen=True)
class PlanConfig:
    """Mode-2 planning (model-predictive control) settings."""

    planner: PlannerName = "mppi"
    """Which optimiser searches the action sequence."""
    horizon: int = 16
    """Planner steps (each is ``frameskip`` environment steps)."""
    samples: int = 64
    """Candidate plans per iteration (MPPI/CEM) or restarts (gradient)."""
    iterations: int = 2
    """Optimiser iterations per decision (with warm start from the previous decision)."""
    replan_every: int = 4
    """Decisions per plan: 1 plans at every decision; k > 1 executes the next k - 1 actions of
    each plan open loop (k times less planning per environment step; at most the horizon).
    Measured on the Two Rooms demo's model, 100 episodes: 84% (k=1), 82% (2), 85% (4), 80% (8)."""
    elites: int = 16
    """Elite plans kept by MPPI/CEM."""
    noise_std: float = 2.0
    """Initial sampling std of the actions (in action units: pixels per step in Two Rooms, the
    scaled box [-1, 1] in the pixel environments)."""
    min_std: float = 0.2
    """Smallest sampling std MPPI/CEM may shrink to."""
    temperature: float = 0.5
    """MPPI temperature (costs are normalised by their spread first)."""
    min_over_horizon: bool = True
    """Cost = the closest the plan gets to the goal (else the distance at the last step, DINO-WM's
    objective)."""
    max_action: float = 2.0
    """Largest action the planners may use (Two Rooms and the maze: pixels per step, at most the
    environment's step; pixel environments: the scaled box's half-width, 1). The random walks' steps
    are N(1, 0.4), so longer actions would take the world model outside what it has seen."""
    hold: bool = True
    """Plan one action per planner step, held for frameskip environment steps (False: the whole
    macro action, frameskip x A numbers per planner step, as DINO-WM; pixel environments only)."""

    def __post_init__(self) -> None:
        for name in ("horizon", "samples", "iterations", "elites", "replan_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"plan.{name} must be an int >= 1, got {value!r}")
        if self.planner not in ("mppi", "cem", "gradient"):
            raise InputError(f"plan.planner must be mppi, cem or gradient, got {self.planner!r}")
        if self.replan_every > self.horizon:
            raise InputError(f"plan.replan_every ({self.replan_every}) cannot exceed plan.horizon ({self.horizon})")
        if self.elites > self.samples:
            raise InputError(f"plan.elites ({self.elites}) cannot exceed plan.samples ({self.samples})")
        if not (self.max_action > 0 and self.noise_std > 0 and self.temperature > 0 and self.min_std > 0):
            raise InputError("plan.max_action, plan.noise_std, plan.min_std and plan.temperature must be positive")


def make_planner(plan: PlanConfig, action_dim: int, bound: float) -> Planner:
    """The optimiser ``plan.planner`` over actions ``(A,)`` in the box ``[-bound, bound]^A``.

    MPPI adapts its sampling std between ``plan.min_std`` and ``bound``; CEM starts each decision
    at ``plan.noise_std`` and keeps 10% of the previous mean (momentum); the gradient planner takes
    ``plan.iterations`` Adam steps of 0.3 from ``plan.samples`` restarts.
    """
    if action_dim < 1 or not bound > 0:
        raise InputError(f"need action_dim >= 1 and bound > 0, got {action_dim} and {bound}")
    if plan.planner == "mppi":
        return MPPI(
            action_dim, -bound, bound, samples=plan.samples, iterations=plan.iterations,
            temperature=plan.temperature, noise_std=plan.noise_std, elites=plan.elites,
            adapt_std=True, min_std=plan.min_std, max_std=bound, normalize_costs=True,
        )
    if plan.planner == "cem":
        return CEM(
            action_dim, -bound, bound, samples=plan.samples, elites=plan.elites, iterations=plan.iterations,
            init_std=plan.noise_std, min_std=plan.min_std, momentum=0.1,
        )
    return GradientPlanner(action_dim, -bound, bound, iterations=plan.iterations, lr=0.3, restarts=plan.samples)
