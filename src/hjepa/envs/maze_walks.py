"""Reward-free exploration data for the maze: long random walks that keep pushing at walls.

The walker is Two Rooms' :class:`~hjepa.envs.random_walk.RandomWalkPolicy` (a heading that drifts
by von Mises noise, step lengths ~ N(mean, std)), rolled out by the same
:func:`~hjepa.envs.random_walk.walk`; with ``resample_on_block = 0`` it keeps pushing when a wall
stops it, which is what teaches a world model that walls stop the agent (docs/world_model.md).
Episodes are long (hundreds of steps) so that walks pass through doors, and a fraction start
inside a door opening, where the door's effect is seen at once.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from hjepa.envs.maze import Maze
from hjepa.envs.random_walk import RandomWalkPolicy, walk
from hjepa.errors import InputError


def sample_in_doors(env: Maze, layout, generator: torch.Generator | None = None) -> torch.Tensor:
    """Positions (N, 2) inside one drawn door opening per copy (chosen uniformly among its drawn
    doors), uniform across the wall's thickness and the middle 80% of the opening."""
    cfg = env.config
    n = len(layout)
    door = torch.multinomial(layout.drawn.float(), 1, generator=generator).squeeze(1)  # (N,)
    centre = env.door_centre_xy(layout)[torch.arange(n), door]  # (N, 2)
    u = torch.rand(n, 2, generator=generator) - 0.5
    across = u[:, 0] * cfg.wall
    along = u[:, 1] * 0.8 * cfg.door_size
    vertical = door < cfg.rooms * (cfg.rooms - 1)  # a door in a vertical wall: cross along x
    dx = torch.where(vertical, across, along)
    dy = torch.where(vertical, along, across)
    return centre + torch.stack([dx, dy], -1)


def collect_maze_walks(
    env: Maze,
    policy: RandomWalkPolicy,
    episodes: int,
    steps: int,
    seed: int,
    door_start_fraction: float = 0.3,
) -> dict[str, torch.Tensor]:
    """Roll out ``episodes`` random walks of ``steps`` steps, batched over episodes.

    Returns the trajectory format's arrays (:mod:`hjepa.data.trajectories`): ``positions``
    (E, T+1, 2), ``actions`` (E, T, 2) (norm-clipped, as sent), ``wall_x`` and ``door_y`` (E,) (Two
    Rooms' layout fields, zeros here) and the maze layout: ``door_drawn``, ``door_passable`` (E,
    D) bool and ``door_centre`` (E, D) float32. Deterministic for a given ``seed``.
    """
    if episodes < 1 or steps < 1:
        raise InputError(f"episodes and steps must be >= 1, got {episodes}, {steps}")
    if not 0.0 <= door_start_fraction <= 1.0:
        raise InputError(f"door_start_fraction must be in [0, 1], got {door_start_fraction}")
    if policy.max_step > env.config.max_step + 1e-6:
        raise InputError(f"policy max_step {policy.max_step} exceeds the environment's {env.config.max_step}")
    generator = torch.Generator().manual_seed(seed)
    layout = env.sample_layout(episodes, generator)
    room = torch.randint(env.config.num_rooms, (episodes,), generator=generator)
    pos = env.sample_in_room(room, generator, margin=0.5)
    in_door = torch.rand(episodes, generator=generator) < door_start_fraction
    pos = torch.where(in_door.unsqueeze(-1), sample_in_doors(env, layout, generator), pos)
    # A door start in a closed (unreliable) door is not free space: start in the room instead.
    pos = torch.where(env.is_free(pos, layout).unsqueeze(-1), pos, env.sample_in_room(room, generator))
    positions, actions = walk(env, policy, pos, layout, steps, generator)
    return {
        "positions": positions,
        "actions": actions,
        "door_drawn": layout.drawn.clone(),
        "door_passable": layout.passable.clone(),
        "door_centre": layout.centre.float().clone(),
    }


def maze_collection_meta(env: Maze, policy: RandomWalkPolicy, seed: int, door_start_fraction: float) -> dict:
    """JSON-ready description of a :func:`collect_maze_walks` call, for dataset metadata."""
    return {
        "env": {"name": "maze", "config": asdict(env.config)},
        "policy": {"name": policy.name, "params": policy.params()},
        "seed": int(seed),
        "door_start_fraction": float(door_start_fraction),
        "layout_arrays": "door_drawn, door_passable, door_centre",
    }
