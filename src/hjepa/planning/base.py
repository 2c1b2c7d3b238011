"""What every planner shares: the callables it sees, the rollout, the result, input checks.

Planners in ``hjepa.planning`` solve Mode-2 planning (LeCun, "A Path Towards Autonomous AI"):
given the current state ``s0``, a dynamics model and a trajectory cost, find the action sequence
``a_0 .. a_{T-1}`` that minimises the cost of the predicted trajectory. They see only callables,
so the same planner works on a toy linear system and on a JEPA predictor in representation space.

Shapes used throughout:

- ``B``: independent planning problems (episodes), solved together but never mixed.
- ``S``: candidate plans per problem (samples for MPPI/CEM, restarts for gradient descent).
- ``T``: horizon, ``A``: action dimension, ``state_shape``: anything (``(D,)``, ``(C, H, W)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import torch
from torch import Tensor

from hjepa.errors import InputError

Dynamics = Callable[[Tensor, Tensor], Tensor]
"""``dynamics(state (B, S, *state_shape), action (B, S, A)) -> next_state (B, S, *state_shape)``."""

TrajectoryCost = Callable[[Tensor, Tensor], Tensor]
"""``cost(states (B, S, T+1, *state_shape), actions (B, S, T, A)) -> (B, S)``.

``states[:, :, 0]`` is the current state; lower is better. NaN is read as ``+inf`` by the
sampling planners (a diverged rollout is simply a bad plan); ``-inf`` is not allowed.
"""


def rollout(s0: Tensor, actions: Tensor, dynamics: Dynamics) -> Tensor:
    """Predict the trajectory of every candidate plan from the shared start state.

    Args:
        s0: start state of each problem, ``(B, *state_shape)``.
        actions: candidate plans, ``(B, S, T, A)``.
        dynamics: one-step model, see :data:`Dynamics`.

    Returns:
        states ``(B, S, T+1, *state_shape)`` with ``states[:, :, 0] == s0``.
    """
    if actions.dim() != 4:
        raise InputError(f"actions must be (B, S, T, A), got shape {tuple(actions.shape)}")
    batch, samples, horizon, _ = actions.shape
    if s0.shape[0] != batch:
        raise InputError(f"s0 batch {s0.shape[0]} does not match actions batch {batch}")
    state_shape = tuple(s0.shape[1:])
    # contiguous: dynamics are free to .view() their input.
    state = s0.unsqueeze(1).expand(batch, samples, *state_shape).contiguous()
    states = [state]
    for t in range(horizon):
        state = dynamics(state, actions[:, :, t])
        if tuple(state.shape) != (batch, samples, *state_shape):
            raise InputError(
                f"dynamics returned shape {tuple(state.shape)}, expected "
                f"{(batch, samples, *state_shape)}"
            )
        states.append(state)
    return torch.stack(states, dim=2)


def shift_plan(actions: Tensor, steps: int = 1, repeat_last: bool = True) -> Tensor:
    """Drop the first ``steps`` actions (they were executed) and pad the tail.

    Args:
        actions: plan ``(B, T, A)``.
        steps: how many actions were executed, ``>= 0``.
        repeat_last: pad with copies of the last action (default) or with zeros.

    Returns:
        ``(B, T, A)``: ``actions[:, steps:]`` followed by ``steps`` padding actions.
    """
    if actions.dim() != 3:
        raise InputError(f"actions must be (B, T, A), got shape {tuple(actions.shape)}")
    if steps < 0:
        raise InputError(f"steps must be >= 0, got {steps}")
    horizon = actions.shape[1]
    if steps == 0:
        return actions.clone()
    kept = actions[:, min(steps, horizon):]
    pad_len = horizon - kept.shape[1]
    if repeat_last:
        pad = actions[:, -1:].expand(-1, pad_len, -1)
    else:
        pad = actions.new_zeros(actions.shape[0], pad_len, actions.shape[2])
    return torch.cat([kept, pad], dim=1)


@dataclass
class PlanResult:
    """What a planner returns.

    Attributes:
        actions: best plan found, ``(B, T, A)``; execute ``actions[:, 0]`` (or a few steps).
        cost: its trajectory cost, ``(B,)``.
        info: diagnostics, at least ``iterations`` (int), ``best_cost_history`` and
            ``mean_cost_history`` (each ``(iterations, B)``); planner-specific extras.
        warm_start: ``(B, T, A)`` plan to pass as ``init`` to the next call after executing one
            action (the planner's search distribution mean, or the best plan, shifted one step).
    """

    actions: Tensor
    cost: Tensor
    info: dict[str, Any] = field(default_factory=dict)
    warm_start: Tensor | None = None


class Planner(Protocol):
    """Anything that turns ``(s0, dynamics, cost)`` into a :class:`PlanResult`."""

    def plan(
        self,
        s0: Tensor,
        dynamics: Dynamics,
        cost: TrajectoryCost,
        horizon: int,
        init: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> PlanResult:
        """Args: s0 ``(B, *state_shape)``; init ``(B, horizon, A)`` mean actions or None."""
        ...


# --------------------------------------------------------------------------------------------
# Helpers shared by the planners in this package.


def action_bounds(
    action_dim: int, low: float | Sequence[float] | Tensor, high: float | Sequence[float] | Tensor
) -> tuple[Tensor, Tensor]:
    """Validate box bounds and return them as float tensors ``(A,)``; infinities are allowed."""
    if action_dim < 1:
        raise InputError(f"action_dim must be >= 1, got {action_dim}")
    low_t = torch.as_tensor(low, dtype=torch.float64).flatten()
    high_t = torch.as_tensor(high, dtype=torch.float64).flatten()
    for name, bound in (("action_low", low_t), ("action_high", high_t)):
        if bound.numel() == 1:
            continue
        if bound.numel() != action_dim:
            raise InputError(
                f"{name} must be a scalar or have {action_dim} entries, got {bound.numel()}"
            )
    low_t = low_t.expand(action_dim).clone()
    high_t = high_t.expand(action_dim).clone()
    if torch.isnan(low_t).any() or torch.isnan(high_t).any():
        raise InputError("action bounds contain NaN")
    if (low_t > high_t).any():
        raise InputError(f"action_low {low_t.tolist()} exceeds action_high {high_t.tolist()}")
    return low_t, high_t


def check_plan_inputs(
    s0: Tensor, horizon: int, init: Tensor | None, action_dim: int
) -> None:
    """Raise a clear ``ValueError`` for a malformed planning call."""
    if not isinstance(s0, Tensor):
        raise InputError(f"s0 must be a Tensor, got {type(s0).__name__}")
    if s0.dim() < 2:
        raise InputError(
            f"s0 must be batched, (B, *state_shape) with state_shape non-empty, got shape "
            f"{tuple(s0.shape)}; add a batch dim with s0[None] (a scalar state is (B, 1))"
        )
    if s0.shape[0] < 1:
        raise InputError("s0 has an empty batch")
    if s0.is_floating_point() and not torch.isfinite(s0).all():
        raise InputError("s0 contains NaN or inf")
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise InputError(f"horizon must be an int >= 1, got {horizon!r}")
    if init is not None:
        expected = (s0.shape[0], horizon, action_dim)
        if not isinstance(init, Tensor) or tuple(init.shape) != expected:
            shape = tuple(init.shape) if isinstance(init, Tensor) else type(init).__name__
            raise InputError(f"init must have shape (B, horizon, A) = {expected}, got {shape}")
        if not torch.isfinite(init).all():
            raise InputError("init contains NaN or inf")


def initial_mean(
    s0: Tensor, horizon: int, init: Tensor | None, low: Tensor, high: Tensor
) -> Tensor:
    """Starting plan ``(B, T, A)``: ``init`` clamped to bounds, else zeros clamped to bounds."""
    dtype = s0.dtype if s0.is_floating_point() else torch.get_default_dtype()
    if init is None:
        mean = torch.zeros(s0.shape[0], horizon, low.numel(), device=s0.device, dtype=dtype)
    else:
        mean = init.detach().to(device=s0.device, dtype=dtype)
    return torch.clamp(mean, low.to(mean), high.to(mean))


def evaluate(s0: Tensor, actions: Tensor, dynamics: Dynamics, cost: TrajectoryCost) -> Tensor:
    """Cost of each candidate plan, ``(B, S)``, with NaN read as ``+inf``."""
    values = cost(rollout(s0, actions, dynamics), actions)
    expected = tuple(actions.shape[:2])
    if tuple(values.shape) != expected:
        raise InputError(f"cost returned shape {tuple(values.shape)}, expected (B, S) = {expected}")
    return torch.nan_to_num(values, nan=float("inf"))


def standard_normal(
    shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """``N(0, 1)`` noise on ``like``'s device/dtype, drawn from ``generator``.

    The draw happens on the generator's device (a CPU generator with CUDA tensors works, at the
    price of a copy), so one seed gives the same numbers wherever the planner runs.
    """
    draw_device = generator.device if generator is not None else like.device
    noise = torch.randn(shape, generator=generator, device=draw_device, dtype=like.dtype)
    return noise.to(like.device)


def take_best(
    costs: Tensor, actions: Tensor, best_cost: Tensor, best_actions: Tensor
) -> tuple[Tensor, Tensor]:
    """Merge candidates ``costs (B, S)``, ``actions (B, S, T, A)`` into the running best
    ``best_cost (B,)``, ``best_actions (B, T, A)``; ties keep the running best."""
    cost, index = costs.min(dim=1)
    candidate = actions[torch.arange(actions.shape[0], device=actions.device), index]
    better = cost < best_cost
    return (
        torch.where(better, cost, best_cost),
        torch.where(better[:, None, None], candidate, best_actions),
    )


def sample_around(
    mean: Tensor,
    std: Tensor,
    samples: int,
    low: Tensor,
    high: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """Gaussian candidate plans ``(B, S, T, A)`` around ``mean (B, T, A)``, clamped to the box.

    Candidate 0 is ``mean`` itself, so an iteration can never lose the plan it started from.
    ``std`` is ``(B, T, A)`` (or broadcasts to it).
    """
    batch, horizon, action_dim = mean.shape
    noise = standard_normal((batch, samples, horizon, action_dim), mean, generator)
    noise[:, 0] = 0.0
    std = std.expand(batch, horizon, action_dim)
    candidates = mean.unsqueeze(1) + noise * std.unsqueeze(1)
    return torch.clamp(candidates, low.to(mean), high.to(mean))


def finite_mean(costs: Tensor) -> Tensor:
    """Mean of the finite costs per problem, ``(B,)`` (``inf`` when none is finite)."""
    finite = torch.isfinite(costs)
    total = torch.where(finite, costs, torch.zeros_like(costs)).sum(1)
    count = finite.sum(1)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("inf")))
