"""Dynamics callables for the planners: the learned JEPA predictor and the true simulator.

Both follow :data:`hjepa.planning.base.Dynamics`: ``(state (B, S, *state_shape), action (B, S, 2))
-> next state (B, S, *state_shape)``. One planner step is ``action_repeat`` environment steps with
the action held, which is also how the world model was trained (frameskip ``k``: a macro action is
the ``k`` raw actions concatenated, ``[dx_0, dy_0, dx_1, dy_1, ...]``).

Swapping one for the other is the point: the same planner and cost run on the learned model
(Mode-2 in representation space) and on the simulator (an upper bound on what planning can do).
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.envs.two_rooms import Layout, TwoRooms
from hjepa.errors import InputError
from hjepa.planning.base import Dynamics
from hjepa.world.model import JEPAWorldModel


def _check_repeat(action_repeat: int) -> None:
    if isinstance(action_repeat, bool) or not isinstance(action_repeat, int) or action_repeat < 1:
        raise InputError(f"action_repeat must be an int >= 1, got {action_repeat!r}")


def clip_norm(action: Tensor, max_norm: float) -> Tensor:
    """Scale actions ``(..., A)`` so their L2 norm is at most ``max_norm`` (differentiable)."""
    norm = action.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return action * (max_norm / norm).clamp(max=1.0)


def held_macro_action(action: Tensor, action_repeat: int) -> Tensor:
    """``action (..., 2)`` held for ``k`` steps -> the model's macro action ``(..., 2k)``."""
    return action.repeat(*([1] * (action.dim() - 1)), action_repeat)


CHUNK_ROWS = 6400
"""Most rows per predictor call when planning without gradients. A planner asks for B x S rows at
once: 6400 in the demo's evaluation (100 episodes x 64 samples), 16384 in a practice round (256 tasks
x 64 samples). Split into equal pieces of at most 6400 rows, a practice round's planning call takes
12.5-13 s instead of 17.3 s in fp32 and ~6 s instead of 8.5-14 s in bf16 (the activations of 16k rows
fall out of the caches); below 6400 rows, smaller pieces gain nothing in fp32 and lose ~10% in bf16
(measured on the demo's model, 2 threads; docs/benchmarks.md)."""


def learned_dynamics(
    model: JEPAWorldModel,
    action_repeat: int,
    max_action_norm: float | None = None,
    bf16: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> Dynamics:
    """The world model's predictor as planner dynamics on states ``(B, S, D)``.

    Args:
        model: a JEPA world model whose predictor takes ``2 * action_repeat``-dim macro actions.
        action_repeat: environment steps per planner step (the model's frameskip).
        max_action_norm: if given, clip each held action's L2 norm to it first, as the
            environment does (the model only ever saw clipped actions during training).
        bf16: run the predictor under CPU bfloat16 autocast (2-3x faster for convolutional
            predictors on CPUs with native bf16); states stay float32 between steps.
        chunk_rows: without gradients, call the predictor on at most this many rows at a time
            rows at a time, in equal pieces (the same numbers up to float rounding, faster; see
            :data:`CHUNK_ROWS`).

    The callable keeps the autograd graph (for :class:`~hjepa.planning.gradient.GradientPlanner`)
    and is equally happy under ``torch.no_grad()``.
    """
    _check_repeat(action_repeat)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InputError(f"chunk_rows must be an int >= 1, got {chunk_rows!r}")
    if model.action_dim != 2 * action_repeat:
        raise InputError(
            f"model takes {model.action_dim}-dim actions, but action_repeat {action_repeat} "
            f"makes {2 * action_repeat}-dim macro actions"
        )

    def dynamics(state: Tensor, action: Tensor) -> Tensor:
        if state.dim() != 3 or action.dim() != 3 or action.shape[:2] != state.shape[:2]:
            raise InputError(
                f"expected state (B, S, D) and action (B, S, 2), got {tuple(state.shape)} "
                f"and {tuple(action.shape)}"
            )
        batch, samples, dim = state.shape
        if max_action_norm is not None:
            action = clip_norm(action, max_action_norm)
        macro = held_macro_action(action, action_repeat).to(state)
        flat = batch * samples
        rows, macros = state.reshape(flat, dim), macro.reshape(flat, -1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if torch.is_grad_enabled() or flat <= chunk_rows:
                next_state = model.step(rows, macros)
            else:
                size = -(-flat // -(-flat // chunk_rows))  # equal pieces of at most chunk_rows
                pieces = zip(rows.split(size), macros.split(size), strict=True)
                next_state = torch.cat([model.step(r, m) for r, m in pieces])
        return next_state.reshape(batch, samples, dim).to(state.dtype)

    return dynamics


def simulator_dynamics(env: TwoRooms, layout: Layout, action_repeat: int) -> Dynamics:
    """The true Two Rooms simulator as planner dynamics on positions ``(B, S, 2)``.

    Problem ``b`` lives in ``layout`` entry ``b`` (``len(layout) == B``), shared by its ``S``
    samples. Each call steps the simulator ``action_repeat`` times holding the action (the
    simulator clips its norm to ``max_step``).
    """
    _check_repeat(action_repeat)

    def dynamics(state: Tensor, action: Tensor) -> Tensor:
        if state.dim() != 3 or state.shape[-1] != 2 or action.shape != state.shape:
            raise InputError(
                f"expected positions (B, S, 2) and actions (B, S, 2), got {tuple(state.shape)} "
                f"and {tuple(action.shape)}"
            )
        if state.shape[0] != len(layout):
            raise InputError(
                f"state has B={state.shape[0]} problems but the layout has {len(layout)}"
            )
        # env.step broadcasts leading dims *before* the layout's N: put samples first.
        pos = state.transpose(0, 1)
        held = action.transpose(0, 1)
        for _ in range(action_repeat):
            pos = env.step(pos, held, layout)
        return pos.transpose(0, 1).contiguous()

    return dynamics
