"""Planning under a latent variable: score each plan over several draws of z.

A predictor with a latent ``z`` (:mod:`hjepa.world.latent`) has one outcome per ``z``. To let any
planner in this package (which sees plain callables) score a plan over ``Z`` draws, the planner's
state carries every draw side by side: ``(B, Z, D)`` instead of ``(B, D)``. The dynamics step each
draw with its own ``z`` under the *same* action, and the cost reduces the ``Z`` per-draw costs to
one number per plan: the mean (expected cost) or the max (worst case). ``Z = 1`` with ``z = 0`` is
planning with z fixed at the prior's mean.

Shapes: planner states ``(B, S, Z, D)``, trajectories ``(B, S, T+1, Z, D)``, actions ``(B, S, U)``.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.planning.base import TrajectoryCost


def closest_approach(states: Tensor, target: Tensor, event_dims: int = 1) -> Tensor:
    """Smallest squared distance to ``target`` over steps ``1..T`` (step 0 is the current state).

    Args:
        states: ``(B, S, T+1, *rest, *event)`` trajectories.
        target: ``(B, *rest, *event)`` (or broadcastable to it).
        event_dims: how many trailing dims make one state (summed over).

    Returns:
        ``(B, S, *rest)``.
    """
    if states.dim() < 3 + event_dims:
        raise InputError(f"states must be (B, S, T+1, ..., state) with {event_dims} state dims, got {tuple(states.shape)}")
    diff = states[:, :, 1:] - target.unsqueeze(1).unsqueeze(2)
    dist = diff.pow(2).sum(dim=tuple(range(-event_dims, 0)))  # (B, S, T, *rest)
    return dist.min(dim=2).values


class LatentSamples:
    """Dynamics and cost that evaluate every plan under ``Z`` fixed draws of ``z``.

    Args:
        step: ``(state (N, D), action (N, U), z (N, Zd)) -> next state (N, D)``, e.g. a
            :class:`~hjepa.world.hierarchy.HighLevelModel`'s ``step``.
        z: ``(Z, Zd)`` draws shared by every problem and plan (e.g.
            :func:`~hjepa.world.latent.sample_prior`), held over the whole horizon.
        reduce: ``'mean'`` scores a plan by its expected cost over the draws, ``'max'`` by its
            worst case.

    Example:
        >>> samples = LatentSamples(high.step, sample_prior(8, high.z_scale, g), "max")  # doctest: +SKIP
        >>> result = planner.plan(samples.lift(s2), samples.dynamics, samples.cost(goal2), horizon=12)  # doctest: +SKIP
    """

    def __init__(self, step: Callable[[Tensor, Tensor, Tensor], Tensor], z: Tensor, reduce: Literal["mean", "max"] = "mean") -> None:
        if z.dim() != 2 or z.shape[0] < 1:
            raise InputError(f"z must be (Z, Zd) with Z >= 1 draws, got {tuple(z.shape)}")
        if reduce not in ("mean", "max"):
            raise InputError(f"reduce must be 'mean' or 'max', got {reduce!r}")
        self.step, self.z, self.reduce = step, z, reduce

    @property
    def draws(self) -> int:
        return self.z.shape[0]

    def lift(self, state: Tensor) -> Tensor:
        """``(B, D) -> (B, Z, D)``: the same start state for every draw."""
        return state.unsqueeze(1).expand(state.shape[0], self.draws, *state.shape[1:]).contiguous()

    def lower(self, states: Tensor) -> Tensor:
        """``(..., Z, D) -> (..., D)``: the mean prediction over the draws."""
        return states.mean(dim=-2)

    def dynamics(self, state: Tensor, action: Tensor) -> Tensor:
        """``state (B, S, Z, D), action (B, S, U) -> (B, S, Z, D)``."""
        if state.dim() != 4 or state.shape[2] != self.draws or action.shape[:2] != state.shape[:2]:
            raise InputError(f"expected state (B, S, {self.draws}, D) and action (B, S, U), got "
                             f"{tuple(state.shape)} and {tuple(action.shape)}")
        b, s, zn, d = state.shape
        act = action.unsqueeze(2).expand(b, s, zn, action.shape[-1])
        z = self.z.to(state).view(1, 1, zn, -1).expand(b, s, zn, self.z.shape[-1])
        out = self.step(state.reshape(-1, d), act.reshape(b * s * zn, -1), z.reshape(b * s * zn, -1))
        return out.reshape(b, s, zn, d)

    def cost(self, goal: Tensor, weights: Tensor | None = None) -> TrajectoryCost:
        """Closest approach to ``goal (B, D)`` per draw, reduced over the draws: ``(B, S)``.

        ``weights (B, Z)`` (rows summing to 1, e.g. a posterior over the draws,
        :class:`~hjepa.control.z_posterior.LatentPosterior`) make the mean a weighted one
        (``reduce='mean'`` only)."""
        if weights is not None:
            if self.reduce != "mean":
                raise InputError("weights over the draws apply to reduce='mean' only")
            if weights.shape != (goal.shape[0], self.draws) or not torch.isfinite(weights).all():
                raise InputError(f"weights must be finite, ({goal.shape[0]}, {self.draws}), got {tuple(weights.shape)}")

        def cost(states: Tensor, actions: Tensor) -> Tensor:
            per_draw = closest_approach(states, goal.unsqueeze(1), event_dims=1)  # (B, S, Z)
            if weights is not None:
                return (per_draw * weights.to(per_draw).unsqueeze(1)).sum(-1)
            return per_draw.mean(-1) if self.reduce == "mean" else per_draw.max(-1).values

        return cost

    def weighted_lower(self, weights: Tensor) -> Callable[[Tensor], Tensor]:
        """``(B, ..., Z, D) -> (B, ..., D)``: the prediction averaged with ``weights (B, Z)``."""

        def lower(states: Tensor) -> Tensor:
            w = weights.to(states).view(states.shape[0], *([1] * (states.dim() - 3)), self.draws, 1)
            return (states * w).sum(dim=-2)

        return lower


def deterministic_cost(goal: Tensor) -> TrajectoryCost:
    """Closest approach to ``goal (B, *state)`` of trajectories ``(B, S, T+1, *state)``: ``(B, S)``."""

    def cost(states: Tensor, actions: Tensor) -> Tensor:
        return closest_approach(states, goal, event_dims=goal.dim() - 1)

    return cost


def identity(x: Tensor) -> Tensor:
    return x


def fixed_z_step(step: Callable[[Tensor, Tensor, Tensor | None], Tensor], z: Tensor | None = None) -> Callable[[Tensor, Tensor], Tensor]:
    """``step(state, action, z)`` with ``z`` held (None: the predictor's default, z = 0) as a
    planner :data:`~hjepa.planning.base.Dynamics` on ``(B, S, D)`` states."""

    def dynamics(state: Tensor, action: Tensor) -> Tensor:
        b, s, d = state.shape
        zz = None if z is None else z.to(state).expand(b * s, z.shape[-1])
        return step(state.reshape(b * s, d), action.reshape(b * s, -1), zz).reshape(b, s, d)

    return dynamics

