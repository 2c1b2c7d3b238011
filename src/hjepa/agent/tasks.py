"""Episodes the agent is asked to solve in Two Rooms, and the environment's verdict on them.

Two kinds of goal:

- ``position``: reach a goal position (cross-room: start in one room, goal in the other), success
  within ``success_radius`` pixels of it;
- ``other-room``: reach the other room, any point of it; success once the agent's x lies inside
  the target room's free space. The goal position stored is the target room's centre (the agent
  is conditioned on its rendering, the cost on the room itself).

A forbidden ``zone`` only changes which episodes are drawn (start and goal keep ``clearance``
pixels away from it) and is counted by :func:`in_zone`; it is the cost module's business to keep
the agent out.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from hjepa.cost.regions import Box
from hjepa.envs.tasks import Tasks, sample_two_rooms_tasks
from hjepa.envs.two_rooms import Layout, TwoRooms
from hjepa.errors import InputError

GoalKind = Literal["position", "other-room"]


def room_box(env: TwoRooms, layout: Layout, room: int) -> Box:
    """The free space of ``room`` (0 left, 1 right) of the first layout entry, as a :class:`Box`."""
    lo, hi = env.room_bounds(layout.index(slice(0, 1)), torch.tensor([room]))
    cfg = env.config
    return Box(float(lo[0]), float(cfg.border), float(hi[0]), float(cfg.size - 1 - cfg.border))


def room_centre(env: TwoRooms, layout: Layout, room: Tensor) -> Tensor:
    """Centres ``(N, 2)`` of ``room`` ``(N,)`` in each layout."""
    lo, hi = env.room_bounds(layout, room)
    y = torch.full_like(lo, (env.config.size - 1) / 2.0)
    return torch.stack([(lo + hi) / 2.0, y], dim=-1)


def sample_agent_tasks(env: TwoRooms, goal: GoalKind, n: int, seed: int, zone: Box | None = None,
                       clearance: float = 0.0) -> Tasks:
    """``n`` episodes of the given goal kind (:class:`~hjepa.envs.tasks.Tasks` with ``target_room``:
    the room to reach, -1 for a position goal), reproducible from ``seed``.

    Starts (and goal positions) closer than ``clearance`` pixels to ``zone`` are redrawn.
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    generator = torch.Generator().manual_seed(seed)
    keep_out = zone.grown(clearance) if zone is not None else None
    chosen: list[tuple[Layout, Tensor, Tensor, Tensor]] = []
    have = 0
    for _ in range(100):
        draw = 2 * n
        if goal == "position":
            drawn = sample_two_rooms_tasks(env, draw, generator)
            layout, start, target = drawn.layout, drawn.start, drawn.goal
            target_room = torch.full((draw,), -1, dtype=torch.long)
            ok = torch.ones(draw, dtype=torch.bool)
        elif goal == "other-room":
            layout = env.sample_layout(draw, generator)
            start_room = torch.randint(2, (draw,), generator=generator)
            start = env.sample_in_room(layout, start_room, generator)
            target_room = 1 - start_room
            target = room_centre(env, layout, target_room)
            ok = torch.ones(draw, dtype=torch.bool)
        else:
            raise InputError(f"unknown goal kind {goal!r}: choose 'position' or 'other-room'")
        if keep_out is not None:
            ok &= ~keep_out.contains(start)
            if goal == "position":
                ok &= ~keep_out.contains(target)
        index = ok.nonzero().squeeze(-1)[: n - have]
        chosen.append((layout.index(index), start[index], target[index], target_room[index]))
        have += len(index)
        if have == n:
            break
    if have < n:
        raise InputError(f"could not draw {n} episodes clear of zone {zone} (clearance {clearance} px)")
    layout = Layout(torch.cat([c[0].wall_x for c in chosen]), torch.cat([c[0].door_y for c in chosen]))
    return Tasks(torch.cat([c[1] for c in chosen]), torch.cat([c[2] for c in chosen]), layout,
                 target_room=torch.cat([c[3] for c in chosen]))


def reached(env: TwoRooms, tasks: Tasks, pos: Tensor) -> Tensor:
    """``(N,)`` bool: success at positions ``pos (N, 2)``."""
    near = (pos - tasks.goal).norm(dim=-1) <= env.config.success_radius
    room = tasks.target_room.clamp_min(0)
    lo, hi = env.room_bounds(tasks.layout, room)
    inside = (pos[:, 0] >= lo) & (pos[:, 0] <= hi)
    return torch.where(tasks.room_goal, inside, near)


def in_zone(zone: Box | None, pos: Tensor) -> Tensor:
    """``(N,)`` bool: positions ``(N, 2)`` inside the forbidden zone (never, without one)."""
    if zone is None:
        return torch.zeros(pos.shape[0], dtype=torch.bool)
    return zone.contains(pos)
