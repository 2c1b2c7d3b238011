"""Two Rooms: a batched, pixel-based navigation world written in torch.

A square arena (``size`` x ``size`` pixels) with border walls is split by a vertical wall
``wall_width`` pixels thick; a door of ``door_size`` pixels lets the agent through. The agent is a
point whose observation is a Gaussian dot (std ``dot_sigma``). Observations have two channels:
``[agent, walls]``, as in PLDM (Sobal et al., 2025) and eb_jepa.

Coordinates are continuous pixel coordinates ``(x, y)``: pixel ``(row=i, col=j)`` has its centre
at ``x = j, y = i``. A wall that occupies columns ``c .. c + w - 1`` blocks the closed interval
``[c - 0.5, c + w - 0.5]`` in ``x`` except for the door rows ``[door_lo, door_hi]``.

Everything is batched: ``N`` copies step and render in one tensor operation. By default each copy
has its own layout (wall x position and door y position drawn at reset), so a model must read the
layout from pixels; ``fixed_layout=True`` uses the centre wall and door for every copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F
import tyro

from hjepa.errors import InputError


@dataclass(frozen=True)
class TwoRoomsConfig:
    """Geometry and dynamics of the Two Rooms world."""

    size: int = 64
    """Side of the square observation, in pixels."""
    border: int = 3
    """Thickness of the border walls, in pixels."""
    wall_width: int = 3
    """Thickness of the dividing wall, in pixels."""
    door_size: float = 10.0
    """Height of the door opening, in pixels."""
    dot_sigma: float = 1.3
    """Standard deviation of the agent's Gaussian dot, in pixels."""
    max_step: float = 2.45
    """Actions are displacements whose L2 norm is clipped to this value."""
    wall_x_range: tuple[int, int] = (20, 41)
    """Inclusive range of the dividing wall's left column when layouts are random."""
    door_y_range: tuple[float, float] = (14.0, 49.0)
    """Range of the door centre's y when layouts are random."""
    fixed_layout: Annotated[bool, tyro.conf.Suppress] = False
    """Use one layout (wall and door in the middle) for every episode. Not an option of its own on the
    command line: the commands set it from ``--layout fixed``, the one way to say it."""
    success_radius: float = 4.5
    """An episode succeeds when the agent is this close to its goal (pixels)."""
    max_episode_steps: int = 200
    """Steps allowed per evaluation episode."""
    substeps: int = 8
    """Collision checks per step: a move stops at the first sub-step that would enter a wall."""

    def __post_init__(self) -> None:
        if self.size < 16:
            raise InputError(f"size must be >= 16 pixels, got {self.size}")
        if not 0 < self.wall_x_range[0] <= self.wall_x_range[1] < self.size - self.wall_width:
            raise InputError(f"wall_x_range {self.wall_x_range} does not fit in size {self.size}")
        low, high = self.door_y_range
        if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high <= self.size - 1):
            raise InputError(f"door_y_range {self.door_y_range} must be finite with 0 <= low <= high <= {self.size - 1}")
        if self.door_size <= 0 or self.max_step <= 0 or self.dot_sigma <= 0:
            raise InputError("door_size, max_step and dot_sigma must be positive")
        if self.substeps < 1:
            raise InputError(f"substeps must be >= 1, got {self.substeps}")

    @property
    def fixed_wall_x(self) -> int:
        """Left column of the dividing wall in the fixed layout."""
        return (self.size - self.wall_width) // 2

    @property
    def fixed_door_y(self) -> float:
        """Door centre in the fixed layout."""
        return (self.size - 1) / 2.0


@dataclass
class Layout:
    """Per-copy layout: ``wall_x`` (N,) left column of the wall, ``door_y`` (N,) door centre."""

    wall_x: torch.Tensor
    door_y: torch.Tensor

    def __len__(self) -> int:
        return self.wall_x.shape[0]

    def index(self, idx: torch.Tensor | slice) -> "Layout":
        return Layout(self.wall_x[idx], self.door_y[idx])


class TwoRooms:
    """Pure, batched Two Rooms dynamics and rendering (no hidden episode state).

    Every method takes the state it needs, so the same object serves data collection, planning
    with the true simulator (as a dynamics callable) and the gymnasium wrapper.
    """

    def __init__(self, config: TwoRoomsConfig = TwoRoomsConfig()) -> None:
        self.config = config
        coords = torch.arange(config.size, dtype=torch.float32)
        self._cols = coords.view(1, 1, -1)  # (1, 1, W) x of each pixel
        self._rows = coords.view(1, -1, 1)  # (1, H, 1) y of each pixel

    # ------------------------------------------------------------------ layouts and positions
    def sample_layout(
        self,
        n: int,
        generator: torch.Generator | None = None,
        wall_x_choices: torch.Tensor | None = None,
        door_y_range: tuple[float, float] | None = None,
    ) -> Layout:
        """Draw ``n`` layouts; optional ``wall_x_choices`` (K,) ints and ``door_y_range`` restrict them."""
        cfg = self.config
        if cfg.fixed_layout:
            return Layout(
                torch.full((n,), cfg.fixed_wall_x, dtype=torch.long),
                torch.full((n,), cfg.fixed_door_y, dtype=torch.float32),
            )
        if wall_x_choices is None:
            wall_x_choices = torch.arange(cfg.wall_x_range[0], cfg.wall_x_range[1] + 1)
        pick = torch.randint(len(wall_x_choices), (n,), generator=generator)
        lo, hi = door_y_range if door_y_range is not None else cfg.door_y_range
        door_y = lo + (hi - lo) * torch.rand(n, generator=generator)
        return Layout(wall_x_choices[pick].long(), door_y)

    def room_bounds(self, layout: Layout, room: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x-interval (lo, hi), each (N,), of the free space of ``room`` (0 = left, 1 = right)."""
        cfg = self.config
        left_lo = torch.full_like(layout.door_y, float(cfg.border))
        left_hi = layout.wall_x.float() - 1.0
        right_lo = layout.wall_x.float() + cfg.wall_width
        right_hi = torch.full_like(layout.door_y, float(cfg.size - 1 - cfg.border))
        is_right = room.bool()
        return torch.where(is_right, right_lo, left_lo), torch.where(is_right, right_hi, left_hi)

    def sample_in_room(
        self, layout: Layout, room: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Uniform positions (N, 2) inside ``room`` (N,) of each layout."""
        cfg = self.config
        lo, hi = self.room_bounds(layout, room)
        u = torch.rand(len(layout), 2, generator=generator)
        x = lo + (hi - lo) * u[:, 0]
        y = cfg.border + (cfg.size - 1 - 2 * cfg.border) * u[:, 1]
        return torch.stack([x, y], dim=-1)

    def room_of(self, pos: torch.Tensor, layout: Layout) -> torch.Tensor:
        """Room index (N,) of positions (N, 2): 0 left of the wall's centre, 1 right of it."""
        centre = layout.wall_x.float() + (self.config.wall_width - 1) / 2.0
        return (pos[:, 0] > centre).long()

    # ------------------------------------------------------------------ dynamics
    def is_free(self, pos: torch.Tensor, layout: Layout) -> torch.Tensor:
        """Whether positions (..., N, 2) lie in free space; returns (..., N) bool."""
        cfg = self.config
        x, y = pos[..., 0], pos[..., 1]
        lo, hi = float(cfg.border), float(cfg.size - 1 - cfg.border)
        inside = (x >= lo) & (x <= hi) & (y >= lo) & (y <= hi)
        wall_lo = layout.wall_x.float() - 0.5
        wall_hi = wall_lo + cfg.wall_width
        half = cfg.door_size / 2.0
        in_slab = (x >= wall_lo) & (x <= wall_hi)
        in_door = (y >= layout.door_y - half) & (y <= layout.door_y + half)
        return inside & ~(in_slab & ~in_door)

    def clip_action(self, action: torch.Tensor) -> torch.Tensor:
        """Scale actions (..., 2) so their L2 norm is at most ``max_step``."""
        norm = action.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return action * (self.config.max_step / norm).clamp(max=1.0)

    def step(self, pos: torch.Tensor, action: torch.Tensor, layout: Layout) -> torch.Tensor:
        """Next positions (..., N, 2) after displacements ``action`` (..., N, 2).

        Leading dimensions before N broadcast (a planner can pass (S, N, 2) samples). The move is
        cut into ``substeps`` equal pieces and stops before the first piece that would enter a wall,
        so walls are never crossed except through the door.
        """
        delta = self.clip_action(action) / self.config.substeps
        moving = torch.ones(pos.shape[:-1], dtype=torch.bool, device=pos.device)
        for _ in range(self.config.substeps):
            candidate = pos + delta
            moving = moving & self.is_free(candidate, layout)
            pos = torch.where(moving.unsqueeze(-1), candidate, pos)
        return pos

    # ------------------------------------------------------------------ rendering
    def wall_mask(self, layout: Layout) -> torch.Tensor:
        """Wall channel (N, size, size) in {0, 1}."""
        cfg = self.config
        cols, rows = self._cols, self._rows
        border = (cols < cfg.border) | (cols > cfg.size - 1 - cfg.border)
        border = border | (rows < cfg.border) | (rows > cfg.size - 1 - cfg.border)
        wx = layout.wall_x.view(-1, 1, 1).float()
        dy = layout.door_y.view(-1, 1, 1)
        in_wall = (cols >= wx) & (cols < wx + cfg.wall_width)
        in_door = (rows >= dy - cfg.door_size / 2.0) & (rows <= dy + cfg.door_size / 2.0)
        return (border | (in_wall & ~in_door)).float()

    def agent_image(self, pos: torch.Tensor) -> torch.Tensor:
        """Agent channel (N, size, size): a Gaussian dot of peak 1 at each position (N, 2)."""
        sigma2 = 2.0 * self.config.dot_sigma**2
        dx2 = (self._cols - pos[:, 0].view(-1, 1, 1)) ** 2  # (N, 1, W)
        dy2 = (self._rows - pos[:, 1].view(-1, 1, 1)) ** 2  # (N, H, 1)
        return torch.exp(-dx2 / sigma2) * torch.exp(-dy2 / sigma2)

    def agent_image_pooled(self, pos: torch.Tensor, pool: int) -> torch.Tensor:
        """``agent_image(pos)`` average-pooled by ``pool``, (N, size/pool, size/pool), computed
        without the full-size image: the dot is separable, exp(-dx^2) * exp(-dy^2), so its block
        average is the product of the block averages along x and along y."""
        if pool < 1 or self.config.size % pool:
            raise InputError(f"pool {pool} must be >= 1 and divide the size {self.config.size}")
        sigma2 = 2.0 * self.config.dot_sigma**2
        coords = self._cols.view(-1)  # (size,)
        ex = torch.exp(-((coords - pos[:, 0:1]) ** 2) / sigma2)  # (N, size) along x
        ey = torch.exp(-((coords - pos[:, 1:2]) ** 2) / sigma2)  # (N, size) along y
        ex = ex.view(len(pos), -1, pool).mean(-1)  # (N, size/pool)
        ey = ey.view(len(pos), -1, pool).mean(-1)
        return ey.unsqueeze(-1) * ex.unsqueeze(-2)  # (N, rows, cols)

    def render(self, pos: torch.Tensor, layout: Layout) -> torch.Tensor:
        """Observations (N, 2, size, size) float32 in [0, 1]: channels [agent, walls]."""
        return torch.stack([self.agent_image(pos), self.wall_mask(layout)], dim=1)

    def window_frames(self, positions: torch.Tensor, layout: Layout, pool: int = 1) -> torch.Tensor:
        """Training-window observations ``(B, T+1, 2, size/pool, size/pool)`` of positions ``(B, T+1, 2)``
        in ``layout`` (B entries): :meth:`render` average-pooled by ``pool`` frame by frame, but with the
        wall channel drawn once per window and the dot directly at the pooled size."""
        batch, steps = positions.shape[:2]
        agent = self.agent_image_pooled(positions.reshape(-1, 2), pool)  # (B*(T+1), h, w)
        walls = self.wall_mask(layout)  # (B, size, size)
        if pool > 1:
            walls = F.avg_pool2d(walls.unsqueeze(1), pool).squeeze(1)
        agent = agent.reshape(batch, steps, *agent.shape[1:])
        return torch.stack([agent, walls.unsqueeze(1).expand_as(agent)], dim=2)
