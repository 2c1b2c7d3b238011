"""Tasks: ``N`` start/goal problems, the one task type of every environment and controller.

``start`` and ``goal`` are ``(N, S)``: the agent's position ``(N, 2)`` in pixels in Two Rooms and
the maze, the simulator's state in the pixel environments (PushT, PointMaze, ...). The optional
fields carry what some tasks add:

- ``layout``: the layout of each task's world (Two Rooms' :class:`~hjepa.envs.two_rooms.Layout`,
  the maze's :class:`~hjepa.envs.maze.MazeLayout`);
- ``target_room`` ``(N,)`` int64: the agent's 'other-room' goals, the room to reach (0 left, 1
  right), -1 for a position goal (``goal`` then holds the target room's centre);
- ``rooms_apart`` ``(N,)`` int64: maze tasks, doors between the start and goal rooms;
- ``start_frames``, ``goal_frames`` ``(N, m, C, H, W)`` uint8: pixel environments, the ``m``
  stacked frames ending at the start and at the goal; ``reference_actions`` ``(N, G, A)``: the
  actions the source episode took from start to goal (empty ``G = 0`` when there is none);
  ``source_episode``, ``source_step`` ``(N,)``: where the task was cut from a dataset.

Samplers sit beside their environments: :func:`sample_two_rooms_tasks` here,
:func:`hjepa.envs.maze_tasks.sample_maze_tasks`, :func:`hjepa.agent.tasks.sample_agent_tasks`,
:mod:`hjepa.data.goal_tasks` for the pixel environments.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError


@dataclass
class Tasks:
    """``N`` start/goal problems (module docstring)."""

    start: Tensor
    goal: Tensor
    layout: Any = None
    target_room: Tensor | None = None
    rooms_apart: Tensor | None = None
    start_frames: Tensor | None = None
    goal_frames: Tensor | None = None
    reference_actions: Tensor | None = None
    source_episode: Tensor | None = None
    source_step: Tensor | None = None

    def __post_init__(self) -> None:
        n = self.start.shape[0]
        for name in ("start", "goal"):
            value = getattr(self, name)
            if value.dim() != 2 or value.shape[0] != n:
                raise InputError(f"{name} must be ({n}, S), got {tuple(value.shape)}")
            if not torch.isfinite(value).all():
                raise InputError(f"{name} contains NaN or inf")
        if self.goal.shape != self.start.shape:
            raise InputError(f"goal {tuple(self.goal.shape)} and start {tuple(self.start.shape)} differ in shape")
        if self.layout is not None and len(self.layout) != n:
            raise InputError(f"layout has {len(self.layout)} entries for {n} tasks")
        for name in ("target_room", "rooms_apart", "start_frames", "goal_frames", "reference_actions",
                     "source_episode", "source_step"):
            value = getattr(self, name)
            if value is not None and value.shape[0] != n:
                raise InputError(f"{name} must start with {n} tasks, got {tuple(value.shape)}")

    def __len__(self) -> int:
        return self.start.shape[0]

    def index(self, idx: Tensor | slice) -> "Tasks":
        """The tasks ``idx`` (indices, bool mask or slice) select."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values[f.name] = None if value is None else (value.index(idx) if f.name == "layout" else value[idx])
        return Tasks(**values)

    @property
    def room_goal(self) -> Tensor:
        """``(N,)`` bool: tasks whose goal is a room (agent 'other-room' goals)."""
        if self.target_room is None:
            return torch.zeros(len(self), dtype=torch.bool)
        return self.target_room >= 0


def sample_two_rooms_tasks(
    env: TwoRooms,
    n: int,
    seed: int | torch.Generator,
    wall_x_choices: Tensor | None = None,
    door_y_range: tuple[float, float] | None = None,
) -> Tasks:
    """``n`` cross-room tasks: start uniform in a random room, goal uniform in the other, on layouts
    drawn by the environment (optionally from given wall positions / door heights); reproducible from
    ``seed`` (or drawn from a generator)."""
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    generator = torch.Generator().manual_seed(seed) if isinstance(seed, int) else seed
    layout = env.sample_layout(n, generator, wall_x_choices, door_y_range)
    start_room = torch.randint(2, (n,), generator=generator)
    start = env.sample_in_room(layout, start_room, generator)
    goal = env.sample_in_room(layout, 1 - start_room, generator)
    return Tasks(start, goal, layout)
