"""Evaluation tasks for Two Rooms: start in one room, goal in the other."""

from __future__ import annotations

import torch

from hjepa.envs.two_rooms import Layout, TwoRooms


def sample_cross_room_tasks(
    env: TwoRooms,
    n: int,
    generator: torch.Generator | None = None,
    wall_x_choices: torch.Tensor | None = None,
    door_y_range: tuple[float, float] | None = None,
) -> tuple[Layout, torch.Tensor, torch.Tensor]:
    """``n`` tasks: layouts, start (n, 2) uniform in a random room, goal (n, 2) uniform in the other."""
    layout = env.sample_layout(n, generator, wall_x_choices, door_y_range)
    start_room = torch.randint(2, (n,), generator=generator)
    start = env.sample_in_room(layout, start_room, generator)
    goal = env.sample_in_room(layout, 1 - start_room, generator)
    return layout, start, goal
