"""Navigation tasks in the maze: start and goal a chosen number of rooms apart.

The distance between two rooms is the number of doors on the shortest path between them through
the *reliable* doors (passable and not unreliable), so a task's distance is what an agent that
avoids doors which may be closed has to walk. Starts and goals are uniform in their rooms,
``margin`` px from the walls.
"""

from __future__ import annotations

import torch

from hjepa.envs.maze import Maze, MazeLayout
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError


def reliable_layout(env: Maze, layout: MazeLayout) -> MazeLayout:
    """The layout with every unreliable door closed (the doors an agent can always count on)."""
    passable = layout.passable.clone()
    if env.config.unreliable:
        passable[:, torch.tensor(env.config.unreliable, dtype=torch.long)] = False
    return MazeLayout(layout.drawn, passable, layout.centre)


def sample_maze_tasks(
    env: Maze,
    n: int,
    generator: torch.Generator | None = None,
    min_rooms: int = 1,
    max_rooms: int | None = None,
    layout: MazeLayout | None = None,
) -> Tasks:
    """``n`` tasks (with ``rooms_apart``) whose start and goal rooms are ``min_rooms .. max_rooms`` doors apart.

    Each copy draws uniformly among its room pairs at an allowed distance (over the reliable
    doors); ``layout`` (n copies) defaults to ``env.sample_layout(n, generator)``.
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    if max_rooms is None:
        max_rooms = env.config.num_rooms - 1
    if not 0 <= min_rooms <= max_rooms:
        raise InputError(f"need 0 <= min_rooms <= max_rooms, got {min_rooms}, {max_rooms}")
    if layout is None:
        layout = env.sample_layout(n, generator)
    elif len(layout) != n:
        raise InputError(f"layout has {len(layout)} copies, expected {n}")
    dist = env.room_distances(reliable_layout(env, layout))  # (N, R, R)
    allowed = (dist >= min_rooms) & (dist <= max_rooms)
    rooms = env.config.num_rooms
    flat = allowed.reshape(n, rooms * rooms)
    empty = ~flat.any(1)
    if bool(empty.any()):
        raise InputError(
            f"{int(empty.sum())} layout(s) have no pair of rooms {min_rooms}-{max_rooms} doors apart "
            f"(largest distance {int(dist.max())})"
        )
    pick = torch.multinomial(flat.float(), 1, generator=generator).squeeze(1)  # (N,)
    start_room, goal_room = pick // rooms, pick % rooms
    start = env.sample_in_room(start_room, generator)
    goal = env.sample_in_room(goal_room, generator)
    apart = dist[torch.arange(n), start_room, goal_room]
    return Tasks(start, goal, layout, rooms_apart=apart)
