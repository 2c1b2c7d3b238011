"""Tasks cut from position trajectories (Two Rooms' expert trajectories): stable-worldmodel's protocol.

Each task starts at the state of a trajectory at a step ``t`` and its goal is the same trajectory's
state ``goal_steps`` environment steps later, so a goal is reachable in ``goal_steps`` steps by
construction. Only the part of a trajectory before its end (``length``, where the expert arrived)
is used: ``0 <= t <= length - goal_steps``.
"""

from __future__ import annotations

import torch

from hjepa.data.trajectories import Trajectories
from hjepa.envs.tasks import Tasks
from hjepa.envs.two_rooms import Layout
from hjepa.errors import InputError


def episode_lengths(dataset: Trajectories) -> torch.Tensor:
    """``(E,)`` steps before each episode's end: its ``length`` where stored, else every step."""
    return dataset.episode_arrays.get("length", torch.full((len(dataset),), dataset.steps))


def usable_episodes(dataset: Trajectories, goal_steps: int) -> torch.Tensor:
    """Indices ``(K,)`` of the episodes with at least ``goal_steps`` steps before their end."""
    return (episode_lengths(dataset) >= goal_steps).nonzero().squeeze(-1)


def cut_goal_tasks(dataset: Trajectories, n: int, goal_steps: int, seed: int) -> Tasks:
    """``n`` tasks, one from each of the first ``n`` usable episodes, at a step ``t`` uniform in
    ``[0, length - goal_steps]`` drawn with ``seed``.

    ``dataset`` holds ``positions (E, T+1, 2)``, Two Rooms' layout (``wall_x``, ``door_y``) and
    optionally ``length (E,)``. Returns :class:`~hjepa.envs.tasks.Tasks` with ``start = positions[e, t]``,
    ``goal = positions[e, t + goal_steps]``, the episode's layout, ``source_episode`` and ``source_step``.
    """
    if n < 1 or goal_steps < 1:
        raise InputError(f"n and goal_steps must be >= 1, got {n} and {goal_steps}")
    if dataset.positions is None:
        raise InputError("cutting goal tasks needs trajectories with positions")
    usable = usable_episodes(dataset, goal_steps)
    if len(usable) < n:
        raise InputError(f"only {len(usable)} of {len(dataset)} trajectories have {goal_steps} steps before their end, "
                         f"{n} needed: collect more or lower the goal steps")
    episode = usable[:n]
    length = episode_lengths(dataset)[episode]
    u = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    start = (u * (length - goal_steps + 1)).long().clamp(max=length - goal_steps)  # uniform integer in [0, L - G]
    positions = dataset.positions[episode]  # (n, T+1, 2)
    rows = torch.arange(n)
    layout = dataset.layout()
    return Tasks(
        positions[rows, start].float(), positions[rows, start + goal_steps].float(),
        layout=Layout(layout.wall_x[episode].long(), layout.door_y[episode].float()),
        source_episode=episode, source_step=start,
    )
