"""Practice: the agent checks its own plans against the world and learns from what really happened.

Random walks show the world model what random actions do. A planner does something else: it
searches for the action sequence whose *predicted* outcome is best, and so it finds precisely the
places where the model is wrong — a predicted shortcut through a wall is the cheapest way to the
goal. Measured on the Two Rooms demo model (docs/world_model.md): for 52% of cross-room tasks the
model's best plan is predicted to reach the goal room while, executed in the environment, it
stays in the start room.

Practice closes that loop, as model-based reinforcement learning does with on-policy data:

1. draw practice tasks (start, goal) on layouts of the training distribution (seeds never used for
   evaluation);
2. plan once from each start with the current model (Mode-2, the same planner and intrinsic cost
   as when acting);
3. execute each plan open loop in the environment and store what happened — positions, layout and
   actions, the same episode format as the exploration data;
4. continue training the world model on a mix of exploration windows and practice windows.

Only observations and actions are stored, never a reward or a success flag: the world model's
objective stays self-supervised. What changes is *where* the data is: exactly on the action
sequences the planner believes in.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.control.dynamics import clip_norm, learned_dynamics
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.data.trajectories import Trajectories
from hjepa.envs.two_rooms import Layout, TwoRooms
from hjepa.errors import InputError
from hjepa.planning.base import Planner
from hjepa.world.model import JEPAWorldModel


def execute_open_loop(env: TwoRooms, start: Tensor, layout: Layout, actions: Tensor) -> Tensor:
    """Positions ``(N, T+1, 2)`` visited by executing ``actions (N, T, 2)`` from ``start (N, 2)``."""
    if start.dim() != 2 or start.shape[-1] != 2:
        raise InputError(f"start must be (N, 2), got {tuple(start.shape)}")
    if actions.dim() != 3 or actions.shape[0] != start.shape[0] or actions.shape[-1] != 2:
        raise InputError(f"actions must be (N, T, 2) with N={start.shape[0]}, got {tuple(actions.shape)}")
    positions = [start]
    for t in range(actions.shape[1]):
        positions.append(env.step(positions[-1], actions[:, t], layout))
    return torch.stack(positions, dim=1)


def practice_episodes(
    env: TwoRooms,
    model: JEPAWorldModel,
    planner: Planner,
    horizon: int,
    frameskip: int,
    max_action: float,
    start: Tensor,
    goal: Tensor,
    layout: Layout,
    generator: torch.Generator | None = None,
    bf16: bool = False,
    chunk: int = 64,
) -> Trajectories:
    """Plan once from every start toward its goal with ``model``, execute the plans, return them.

    Args:
        env: the world the plans are executed in.
        model: the world model (eval mode) whose predictor the planner uses.
        planner: a Mode-2 planner (e.g. MPPI) over ``horizon`` macro steps.
        frameskip: environment steps per macro step (each planned action is held this long).
        max_action: planned actions are clipped to this L2 norm, in the model and when executed.
        start, goal: ``(N, 2)`` positions; ``layout``: N layouts.
        bf16: run the predictor under CPU bfloat16 autocast while planning.
        chunk: problems planned per call (bounds memory: ``chunk * samples`` rollouts at once; 64
            problems x 64 samples x 17 states of 512 floats are about 140 MB).

    Returns:
        N episodes of ``horizon * frameskip`` environment steps: the executed positions, the held
        actions, and the layouts.
    """
    n = start.shape[0]
    if goal.shape != start.shape or len(layout) != n:
        raise InputError(
            f"start {tuple(start.shape)}, goal {tuple(goal.shape)} and layout ({len(layout)}) must agree"
        )
    if chunk < 1:
        raise InputError(f"chunk must be >= 1, got {chunk}")
    dynamics = learned_dynamics(model, frameskip, max_action, bf16=bf16)
    device = next(model.parameters()).device
    planned = []
    with torch.no_grad():
        for lo in range(0, n, chunk):
            rows = torch.arange(lo, min(n, lo + chunk))
            part = layout.index(rows)
            s0 = model.encode(env.render(start[rows], part).to(device))
            goal_state = model.encode(env.render(goal[rows], part).to(device))
            cost = IntrinsicCost(goal_state, squared=True, reduce_min=True)
            result = planner.plan(s0, dynamics, cost, horizon, generator=generator)
            planned.append(clip_norm(result.actions, max_action).cpu())
    actions = torch.cat(planned).repeat_interleave(frameskip, dim=1)  # (N, horizon * frameskip, 2)
    positions = execute_open_loop(env, start, layout, actions)
    return Trajectories(actions, positions, episode_arrays={"wall_x": layout.wall_x.clone(), "door_y": layout.door_y.clone()})
