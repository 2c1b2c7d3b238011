"""Training windows cut from trajectory datasets, with observations rendered on the fly.

A window of ``window`` macro steps with frameskip ``k`` covers ``window * k`` raw steps starting at
raw step ``s``. Its observations are rendered at raw steps ``s, s + k, ..., s + window * k``; each
macro action is the ``k`` raw actions it spans, concatenated in time order into a ``2k`` vector
``[dx_0, dy_0, dx_1, dy_1, ...]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hjepa.data.trajectories import TrajectoryDataset
from hjepa.envs.two_rooms import Layout, TwoRooms


@dataclass
class Windows:
    """A batch of windows.

    obs (B, T+1, 2, H, W) float32; actions (B, T, 2k) float32; positions (B, T+1, 2) at the macro
    steps; wall_x (B,) int64; door_y (B,) float32; episode (B,) and start (B,) raw-step index of
    each window's first observation in the dataset.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    positions: torch.Tensor
    wall_x: torch.Tensor
    door_y: torch.Tensor
    episode: torch.Tensor
    start: torch.Tensor

    def layout(self) -> Layout:
        return Layout(self.wall_x, self.door_y)


def render_pooled(env: TwoRooms, pos: torch.Tensor, layout: Layout, pool: int) -> torch.Tensor:
    """Render positions (N, 2) and average-pool by ``pool``: (N, 2, size/pool, size/pool)."""
    obs = env.render(pos, layout)
    return F.avg_pool2d(obs, pool) if pool > 1 else obs


class WindowSampler:
    """Draws random windows: episodes uniformly, then start steps uniformly among valid ones."""

    def __init__(
        self, dataset: TrajectoryDataset, env: TwoRooms, window: int, frameskip: int = 1, pool: int = 1
    ) -> None:
        if window < 1 or frameskip < 1 or pool < 1:
            raise ValueError(f"window, frameskip and pool must be >= 1, got {window}, {frameskip}, {pool}")
        if env.config.size % pool:
            raise ValueError(f"pool {pool} does not divide the observation size {env.config.size}")
        span = window * frameskip
        if dataset.steps < span:
            raise ValueError(
                f"episodes have {dataset.steps} steps, too short for window {window} x frameskip"
                f" {frameskip} = {span} steps"
            )
        self.dataset = dataset
        self.env = env
        self.window = window
        self.frameskip = frameskip
        self.pool = pool
        self.span = span

    @property
    def obs_size(self) -> int:
        return self.env.config.size // self.pool

    @property
    def action_dim(self) -> int:
        return 2 * self.frameskip

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Windows:
        ds = self.dataset
        episode = torch.randint(len(ds), (batch,), generator=generator)
        start = torch.randint(ds.steps - self.span + 1, (batch,), generator=generator)
        return self.gather(episode, start)

    def gather(self, episode: torch.Tensor, start: torch.Tensor) -> Windows:
        """Windows for given episode indices (B,) and raw start steps (B,)."""
        ds, k, T = self.dataset, self.frameskip, self.window
        batch = episode.shape[0]
        obs_steps = start.unsqueeze(1) + k * torch.arange(T + 1)  # (B, T+1)
        positions = ds.positions[episode.unsqueeze(1), obs_steps]  # (B, T+1, 2)
        act_steps = start.unsqueeze(1) + torch.arange(T * k)  # (B, T*k)
        actions = ds.actions[episode.unsqueeze(1), act_steps].reshape(batch, T, 2 * k)
        wall_x, door_y = ds.wall_x[episode], ds.door_y[episode]
        # Equal to render_pooled frame by frame, but the wall channel is drawn once per window (the
        # layout is the episode's) and the dot directly at the pooled size.
        agent = self.env.agent_image_pooled(positions.reshape(-1, 2), self.pool)  # (B*(T+1), h, w)
        walls = self.env.wall_mask(Layout(wall_x, door_y))  # (B, size, size)
        if self.pool > 1:
            walls = F.avg_pool2d(walls.unsqueeze(1), self.pool).squeeze(1)
        agent = agent.reshape(batch, T + 1, *agent.shape[1:])
        walls = walls.unsqueeze(1).expand_as(agent)
        obs = torch.stack([agent, walls], dim=2)  # (B, T+1, 2, h, w)
        return Windows(obs, actions, positions, wall_x, door_y, episode, start)


class MixedWindowSampler:
    """Draws each batch from several window samplers in fixed proportions.

    ``fractions`` (one per sampler, summing to 1) set how many of a batch's windows each sampler
    gives: ``round(fraction * batch)``, the remainder going to the first. All samplers must cut
    windows of the same shape (same window, frameskip and pool). Used to keep exploration data in
    every batch while training on new data (e.g. practice episodes, :mod:`hjepa.agent.practice`).
    The windows of a batch come sampler by sampler, in order; their ``episode`` indices refer to
    their own sampler's dataset.
    """

    def __init__(self, samplers: list[WindowSampler], fractions: list[float]) -> None:
        if not samplers or len(samplers) != len(fractions):
            raise ValueError(f"need one fraction per sampler, got {len(samplers)} samplers and {len(fractions)} fractions")
        if any(not 0.0 <= f <= 1.0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be in [0, 1] and sum to 1, got {fractions}")
        shapes = {(s.window, s.frameskip, s.pool) for s in samplers}
        if len(shapes) != 1:
            raise ValueError(f"samplers cut windows of different shapes (window, frameskip, pool): {sorted(shapes)}")
        self.samplers = list(samplers)
        self.fractions = [float(f) for f in fractions]
        first = samplers[0]
        self.env, self.window, self.frameskip, self.pool = first.env, first.window, first.frameskip, first.pool

    def counts(self, batch: int) -> list[int]:
        """Windows drawn from each sampler for a batch of ``batch`` (largest-remainder rounding)."""
        exact = [f * batch for f in self.fractions]
        counts = [int(x) for x in exact]
        by_remainder = sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])
        for i in by_remainder[: batch - sum(counts)]:
            counts[i] += 1
        return counts

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Windows:
        parts = [s.sample(c, generator) for s, c in zip(self.samplers, self.counts(batch)) if c > 0]
        return Windows(*(torch.cat([getattr(p, name) for p in parts]) for name in Windows.__dataclass_fields__))
