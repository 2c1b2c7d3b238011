"""Maze: a batched, pixel-based multi-room world (``rooms`` x ``rooms`` rooms joined by doors).

The same conventions as Two Rooms (:mod:`hjepa.envs.two_rooms`): continuous pixel coordinates
``(x, y)`` (pixel ``(row=i, col=j)`` has its centre at ``x = j, y = i``), observations with two
channels ``[agent, walls]`` (a Gaussian dot and a wall mask), actions are displacements whose norm
is clipped to ``max_step``, and a move stops at the first collision sub-step that would enter a
wall. ``N`` copies step and render in one tensor operation; every method takes the state it
needs, so one object serves data collection, planning with the true simulator and the gym wrapper.

Geometry (defaults: 64 px, 3 x 3 rooms of 18 px, walls 2 px, border 3 px). Room ``(i, j)`` (row
``i``, column ``j``; index ``r = i * rooms + j``) covers pixel columns ``border + j * pitch ..
border + j * pitch + room - 1`` with ``pitch = room + wall``; the same for rows. Every wall pixel
``c`` blocks the closed interval ``[c - 0.5, c + 0.5]``. A door is an opening of ``door_size`` px in
the wall between two neighbouring rooms, centred at ``centre`` along the wall.

Doors are indexed ``0 .. 2 R (R-1) - 1`` for ``R = rooms``: first the doors through the vertical
walls (between ``(i, j)`` and ``(i, j+1)``: index ``i (R-1) + j``), then those through the horizontal
walls (between ``(i, j)`` and ``(i+1, j)``: index ``R (R-1) + i R + j``).

A layout says, per copy and door, whether the door is *drawn* (an opening in the wall channel),
whether it is *passable* (what the dynamics use) and where its centre is. In the deterministic
maze both agree. In the stochastic variant (``door_close_prob > 0``) the ``unreliable`` doors are
always drawn open but are closed with that probability in each episode: the observation does not
determine whether the agent gets through.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hjepa.errors import InputError


@dataclass(frozen=True)
class MazeConfig:
    """Geometry and dynamics of the maze."""

    rooms: int = 3
    """Rooms per side (rooms x rooms in all)."""
    room: int = 18
    """Side of a room's floor, in pixels."""
    wall: int = 2
    """Thickness of the walls between rooms, in pixels."""
    border: int = 3
    """Thickness of the outer walls, in pixels."""
    door_size: float = 6.0
    """Width of a door opening, in pixels."""
    dot_sigma: float = 1.0
    """Standard deviation of the agent's Gaussian dot, in pixels."""
    max_step: float = 1.5
    """Actions are displacements whose L2 norm is clipped to this value."""
    substeps: int = 4
    """Collision checks per step."""
    layout: str = "fixed"
    """'fixed': one winding layout for every copy (a snake through all rooms, doors in the middle
    of the walls); 'random': a random spanning tree of doors per copy, at random places."""
    extra_doors: int = 0
    """'random' layouts only: doors opened on top of the spanning tree (loops)."""
    unreliable: tuple[int, ...] = ()
    """Doors (indices) that are drawn open in every layout but passable only with probability
    ``1 - door_close_prob`` per episode. The fixed layout's shortcut is door 6 (rooms 0 and 3)."""
    door_close_prob: float = 0.0
    """Probability that an unreliable door is closed in an episode (0: deterministic maze)."""
    success_radius: float = 3.0
    """An episode succeeds when the agent is this close to its goal (pixels)."""
    max_episode_steps: int = 400
    """Steps allowed per evaluation episode."""

    def __post_init__(self) -> None:
        if self.rooms < 2:
            raise InputError(f"rooms must be >= 2, got {self.rooms}")
        if self.room < 6 or self.wall < 1 or self.border < 1:
            raise InputError(f"need room >= 6, wall >= 1, border >= 1; got {self.room}, {self.wall}, {self.border}")
        if not 0 < self.door_size <= self.room - 2:
            raise InputError(f"door_size must be in (0, room - 2 = {self.room - 2}], got {self.door_size}")
        if not (self.max_step > 0 and self.dot_sigma > 0 and self.success_radius > 0):
            raise InputError("max_step, dot_sigma and success_radius must be positive")
        if self.substeps < 1 or self.max_episode_steps < 1:
            raise InputError(f"substeps and max_episode_steps must be >= 1, got {self.substeps}, {self.max_episode_steps}")
        if self.layout not in ("fixed", "random"):
            raise InputError(f"layout must be 'fixed' or 'random', got {self.layout!r}")
        doors = 2 * self.rooms * (self.rooms - 1)
        if not 0 <= self.extra_doors <= doors - (self.rooms**2 - 1):
            raise InputError(f"extra_doors must be in [0, {doors - self.rooms**2 + 1}], got {self.extra_doors}")
        bad = [d for d in self.unreliable if not 0 <= d < doors]
        if bad:
            raise InputError(f"unreliable doors {bad} out of range: there are {doors} doors")
        if not 0.0 <= self.door_close_prob <= 1.0:
            raise InputError(f"door_close_prob must be in [0, 1], got {self.door_close_prob}")

    @property
    def pitch(self) -> int:
        return self.room + self.wall

    @property
    def size(self) -> int:
        """Side of the square observation, in pixels."""
        return 2 * self.border + self.rooms * self.room + (self.rooms - 1) * self.wall

    @property
    def num_rooms(self) -> int:
        return self.rooms * self.rooms

    @property
    def num_doors(self) -> int:
        return 2 * self.rooms * (self.rooms - 1)


def door_rooms(rooms: int) -> torch.Tensor:
    """(num_doors, 2) int64: the two rooms each door joins (see the module docstring's indexing)."""
    pairs = []
    for i in range(rooms):
        for j in range(rooms - 1):
            pairs.append((i * rooms + j, i * rooms + j + 1))
    for i in range(rooms - 1):
        for j in range(rooms):
            pairs.append((i * rooms + j, (i + 1) * rooms + j))
    return torch.tensor(pairs, dtype=torch.long)


def snake_doors(rooms: int) -> torch.Tensor:
    """(num_doors,) bool: the fixed layout, a snake through every room (row 0 left to right, down
    at the end, row 1 right to left, ...), so neighbouring rooms can be many doors apart."""
    pairs = door_rooms(rooms)
    open_pairs = set()
    for i in range(rooms):
        for j in range(rooms - 1):
            open_pairs.add((i * rooms + j, i * rooms + j + 1))
        if i < rooms - 1:
            j = rooms - 1 if i % 2 == 0 else 0
            open_pairs.add((i * rooms + j, (i + 1) * rooms + j))
    return torch.tensor([(int(a), int(b)) in open_pairs for a, b in pairs])


@dataclass
class MazeLayout:
    """Per-copy layout: ``drawn``, ``passable`` (N, num_doors) bool and door ``centre`` (N, num_doors)
    float (pixel coordinate along the wall: y for doors in vertical walls, x for the others)."""

    drawn: torch.Tensor
    passable: torch.Tensor
    centre: torch.Tensor

    def __post_init__(self) -> None:
        if self.drawn.shape != self.passable.shape or self.drawn.shape != self.centre.shape or self.drawn.dim() != 2:
            raise InputError(
                f"drawn, passable and centre must all be (N, num_doors); got {tuple(self.drawn.shape)}, "
                f"{tuple(self.passable.shape)}, {tuple(self.centre.shape)}"
            )

    def __len__(self) -> int:
        return self.drawn.shape[0]

    def index(self, idx: torch.Tensor | slice) -> "MazeLayout":
        return MazeLayout(self.drawn[idx], self.passable[idx], self.centre[idx])

    def repeat_interleave(self, times: int) -> "MazeLayout":
        """Each copy ``times`` times in a row (for rendering several positions per layout)."""
        return MazeLayout(*(t.repeat_interleave(times, dim=0) for t in (self.drawn, self.passable, self.centre)))


class Maze:
    """Pure, batched maze dynamics and rendering (no hidden episode state)."""

    def __init__(self, config: MazeConfig = MazeConfig()) -> None:
        self.config = config
        coords = torch.arange(config.size, dtype=torch.float32)
        self._cols = coords.view(1, 1, -1)  # (1, 1, W) x of each pixel
        self._rows = coords.view(1, -1, 1)  # (1, H, 1) y of each pixel
        self.door_rooms = door_rooms(config.rooms)  # (D, 2)

    # ------------------------------------------------------------------ layouts
    def room_span(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """First and last floor pixel (each like ``index``) of room row/column ``index``."""
        lo = self.config.border + index * self.config.pitch
        return lo, lo + self.config.room - 1

    def default_centres(self) -> torch.Tensor:
        """(num_doors,) door centres in the middle of their wall segment."""
        cfg = self.config
        along = torch.cat([
            torch.arange(cfg.rooms).repeat_interleave(cfg.rooms - 1),  # vertical walls: row i
            torch.arange(cfg.rooms).repeat(cfg.rooms - 1),  # horizontal walls: column j
        ])
        lo, hi = self.room_span(along)
        return (lo + hi).float() / 2.0

    def sample_layout(self, n: int, generator: torch.Generator | None = None) -> MazeLayout:
        """``n`` layouts: the fixed snake, or random spanning trees (+ ``extra_doors``) with doors
        anywhere along their wall; unreliable doors drawn open and closed with ``door_close_prob``."""
        cfg = self.config
        if n < 1:
            raise InputError(f"n must be >= 1, got {n}")
        doors = cfg.num_doors
        if cfg.layout == "fixed":
            drawn = snake_doors(cfg.rooms).expand(n, doors).clone()
            centre = self.default_centres().expand(n, doors).clone()
        else:
            drawn = self._random_trees(n, generator)
            if cfg.extra_doors:
                score = torch.rand(n, doors, generator=generator) - 2.0 * drawn.float()  # closed doors first
                extra = score.topk(cfg.extra_doors, dim=1).indices
                drawn = drawn.scatter(1, extra, True)
            slack = (cfg.room - cfg.door_size) / 2.0 - 1.0  # keep the opening 1 px from the corners
            centre = self.default_centres() + (2 * torch.rand(n, doors, generator=generator) - 1) * slack
        passable = drawn.clone()
        if cfg.unreliable:
            idx = torch.tensor(cfg.unreliable, dtype=torch.long)
            drawn[:, idx] = True
            closed = torch.rand(n, len(idx), generator=generator) < cfg.door_close_prob
            passable[:, idx] = ~closed
        return MazeLayout(drawn, passable, centre)

    def _random_trees(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """(n, num_doors) bool: a uniformly weighted random spanning tree per copy (Kruskal on
        random edge weights). A loop over copies and doors, at reset only (not a hot path)."""
        cfg = self.config
        order = torch.rand(n, cfg.num_doors, generator=generator).argsort(dim=1)
        pairs = self.door_rooms.tolist()
        out = torch.zeros(n, cfg.num_doors, dtype=torch.bool)
        for b in range(n):
            parent = list(range(cfg.num_rooms))

            def find(r: int) -> int:
                while parent[r] != r:
                    parent[r] = parent[parent[r]]
                    r = parent[r]
                return r

            for d in order[b].tolist():
                ra, rb = find(pairs[d][0]), find(pairs[d][1])
                if ra != rb:
                    parent[ra] = rb
                    out[b, d] = True
        return out

    # ------------------------------------------------------------------ rooms and graph
    def room_distances(self, layout: MazeLayout, passable: bool = True) -> torch.Tensor:
        """(N, R, R) int64 shortest-path distances in doors between rooms (``-1``: unreachable),
        over the passable doors (or the drawn ones)."""
        cfg = self.config
        doors = layout.passable if passable else layout.drawn
        n, rooms = len(layout), cfg.num_rooms
        big = 10 * rooms
        dist = torch.full((n, rooms, rooms), big, dtype=torch.long)
        dist[:, torch.arange(rooms), torch.arange(rooms)] = 0
        a, b = self.door_rooms[:, 0], self.door_rooms[:, 1]
        hop = torch.where(doors, 1, big)  # (N, D)
        dist[:, a, b] = torch.minimum(dist[:, a, b], hop)
        dist[:, b, a] = torch.minimum(dist[:, b, a], hop)
        for k in range(rooms):  # Floyd-Warshall, batched over copies
            dist = torch.minimum(dist, dist[:, :, k : k + 1] + dist[:, k : k + 1, :])
        return torch.where(dist >= big, -1, dist)

    def room_of(self, pos: torch.Tensor) -> torch.Tensor:
        """Room index (...,) of positions (..., 2); a position inside a door counts for the nearer room."""
        cfg = self.config
        cell = ((pos - (cfg.border - 0.5) + cfg.wall / 2.0) / cfg.pitch).floor().long().clamp(0, cfg.rooms - 1)
        return cell[..., 1] * cfg.rooms + cell[..., 0]

    def room_centre(self, room: torch.Tensor) -> torch.Tensor:
        """Centre (..., 2) of room indices (...)."""
        cfg = self.config
        lo_x, hi_x = self.room_span(room % cfg.rooms)
        lo_y, hi_y = self.room_span(room // cfg.rooms)
        return torch.stack([(lo_x + hi_x).float() / 2, (lo_y + hi_y).float() / 2], dim=-1)

    def door_centre_xy(self, layout: MazeLayout) -> torch.Tensor:
        """(N, num_doors, 2) centre of every door opening (inside the wall's thickness)."""
        cfg = self.config
        vertical = cfg.rooms * (cfg.rooms - 1)
        a = self.door_rooms[:, 0]
        col, row = a % cfg.rooms, a // cfg.rooms
        wall_lo_x = cfg.border + (col + 1) * cfg.pitch - cfg.wall  # first wall pixel right of room a
        wall_lo_y = cfg.border + (row + 1) * cfg.pitch - cfg.wall
        across_x = wall_lo_x.float() + (cfg.wall - 1) / 2.0
        across_y = wall_lo_y.float() + (cfg.wall - 1) / 2.0
        is_vertical = torch.arange(cfg.num_doors) < vertical
        x = torch.where(is_vertical, across_x, layout.centre)
        y = torch.where(is_vertical, layout.centre, across_y)
        return torch.stack([x.expand_as(layout.centre), y.expand_as(layout.centre)], dim=-1)

    def sample_in_room(self, room: torch.Tensor, generator: torch.Generator | None = None, margin: float = 1.5) -> torch.Tensor:
        """Uniform positions (N, 2) in rooms ``room`` (N,), at least ``margin`` px from the walls."""
        cfg = self.config
        lo_x, _ = self.room_span(room % cfg.rooms)
        lo_y, _ = self.room_span(room // cfg.rooms)
        u = torch.rand(room.shape[0], 2, generator=generator)
        extent = cfg.room - 1 - 2 * margin
        return torch.stack([lo_x.float() + margin + extent * u[:, 0], lo_y.float() + margin + extent * u[:, 1]], -1)

    # ------------------------------------------------------------------ dynamics
    def _axis(self, coord: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per coordinate: inside the arena, the room column/row it lies in (or left of the wall
        gap it lies in) and whether it lies in a wall gap between rooms."""
        cfg = self.config
        u = coord - (cfg.border - 0.5)
        inside = (u >= 0) & (u <= cfg.rooms * cfg.pitch - cfg.wall)
        cell = (u / cfg.pitch).floor().clamp(0, cfg.rooms - 1)
        in_gap = (u - cell * cfg.pitch) > cfg.room
        return inside, cell.long(), in_gap

    def is_free(self, pos: torch.Tensor, layout: MazeLayout) -> torch.Tensor:
        """Whether positions (..., N, 2) lie in free space (floor or a passable door); (..., N) bool."""
        cfg = self.config
        in_x, col, gap_x = self._axis(pos[..., 0])
        in_y, row, gap_y = self._axis(pos[..., 1])
        half = cfg.door_size / 2.0
        vertical = cfg.rooms * (cfg.rooms - 1)
        # Door through the vertical wall right of column col in row row, and through the
        # horizontal wall below row row in column col (indices clamped where no such wall exists).
        door_v = (row * (cfg.rooms - 1) + col.clamp(max=cfg.rooms - 2)).clamp(max=vertical - 1)
        door_h = vertical + (row.clamp(max=cfg.rooms - 2) * cfg.rooms + col)
        passable = layout.passable.expand(*pos.shape[:-2], *layout.passable.shape)
        centre = layout.centre.expand(*pos.shape[:-2], *layout.centre.shape)
        open_v = passable.gather(-1, door_v.unsqueeze(-1)).squeeze(-1)
        open_h = passable.gather(-1, door_h.unsqueeze(-1)).squeeze(-1)
        near_v = (pos[..., 1] - centre.gather(-1, door_v.unsqueeze(-1)).squeeze(-1)).abs() <= half
        near_h = (pos[..., 0] - centre.gather(-1, door_h.unsqueeze(-1)).squeeze(-1)).abs() <= half
        floor = ~gap_x & ~gap_y
        through_v = gap_x & ~gap_y & open_v & near_v
        through_h = gap_y & ~gap_x & open_h & near_h
        return in_x & in_y & (floor | through_v | through_h)

    def clip_action(self, action: torch.Tensor) -> torch.Tensor:
        """Scale actions (..., 2) so their L2 norm is at most ``max_step``."""
        norm = action.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return action * (self.config.max_step / norm).clamp(max=1.0)

    def step(self, pos: torch.Tensor, action: torch.Tensor, layout: MazeLayout) -> torch.Tensor:
        """Next positions (..., N, 2) after displacements ``action`` (..., N, 2).

        Leading dimensions before N broadcast (a planner can pass (S, N, 2) samples). The move is
        cut into ``substeps`` equal pieces and stops before the first piece that would enter a
        wall, so walls are never crossed except through passable doors.
        """
        delta = self.clip_action(action) / self.config.substeps
        moving = torch.ones(pos.shape[:-1], dtype=torch.bool, device=pos.device)
        for _ in range(self.config.substeps):
            candidate = pos + delta
            moving = moving & self.is_free(candidate, layout)
            pos = torch.where(moving.unsqueeze(-1), candidate, pos)
        return pos

    # ------------------------------------------------------------------ rendering
    def wall_mask(self, layout: MazeLayout) -> torch.Tensor:
        """Wall channel (N, size, size) in {0, 1}: every pixel whose centre is not free space when
        the drawn doors are the open ones."""
        cfg = self.config
        # The mask depends only on (drawn, centre): render each distinct layout once (one for the
        # fixed layout, however many copies).
        key = torch.cat([layout.drawn.float(), layout.centre.float()], dim=1)
        unique, inverse = torch.unique(key, dim=0, return_inverse=True)
        doors = cfg.num_doors
        drawn = MazeLayout(unique[:, :doors] > 0.5, unique[:, :doors] > 0.5, unique[:, doors:])
        grid = torch.stack(torch.meshgrid(torch.arange(cfg.size).float(), torch.arange(cfg.size).float(), indexing="xy"), -1)
        pixels = grid.reshape(-1, 1, 2).expand(-1, len(drawn), 2)  # (H*W, U, 2) as (x, y)
        free = self.is_free(pixels, drawn)  # (H*W, U)
        masks = (~free).float().t().reshape(len(drawn), cfg.size, cfg.size)
        return masks[inverse]

    def agent_image(self, pos: torch.Tensor) -> torch.Tensor:
        """Agent channel (N, size, size): a Gaussian dot of peak 1 at each position (N, 2)."""
        sigma2 = 2.0 * self.config.dot_sigma**2
        dx2 = (self._cols - pos[:, 0].view(-1, 1, 1)) ** 2  # (N, 1, W)
        dy2 = (self._rows - pos[:, 1].view(-1, 1, 1)) ** 2  # (N, H, 1)
        return torch.exp(-dx2 / sigma2) * torch.exp(-dy2 / sigma2)

    def render(self, pos: torch.Tensor, layout: MazeLayout, walls: torch.Tensor | None = None) -> torch.Tensor:
        """Observations (N, 2, size, size) float32 in [0, 1]: channels [agent, walls].

        ``walls`` (N, size, size): a wall channel already computed with :meth:`wall_mask` (it only
        depends on the layout, so callers rendering many frames of one layout pass it once).
        """
        if walls is None:
            walls = self.wall_mask(layout)
        return torch.stack([self.agent_image(pos), walls], dim=1)

    def window_frames(self, positions: torch.Tensor, layout: MazeLayout, pool: int = 1) -> torch.Tensor:
        """Training-window observations ``(B, T+1, 2, size/pool, size/pool)`` of positions ``(B, T+1, 2)``
        in ``layout`` (B entries): :meth:`render` average-pooled by ``pool``, walls drawn once per window."""
        batch, steps = positions.shape[:2]
        agent = self.agent_image(positions.reshape(-1, 2))  # (B*(T+1), size, size)
        walls = self.wall_mask(layout)  # (B, size, size)
        if pool > 1:
            agent = F.avg_pool2d(agent.unsqueeze(1), pool).squeeze(1)
            walls = F.avg_pool2d(walls.unsqueeze(1), pool).squeeze(1)
        walls = walls.repeat_interleave(steps, dim=0)
        size = agent.shape[-1]
        return torch.stack([agent, walls], dim=1).reshape(batch, steps, 2, size, size)
