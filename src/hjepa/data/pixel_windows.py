"""Training windows cut from stored pixel episodes (``hjepa.pixel_trajectories``).

Like ``hjepa.data.windows`` for Two Rooms: a window of ``window`` macro steps with frameskip
``k`` starts at raw step ``s``; its observations are the frames at raw steps
``s, s + k, ..., s + window * k`` and each macro action is the ``k`` raw actions it spans,
concatenated in time order (``k * A`` numbers). Two additions:

- **frame stacking**: with ``frame_stack = m`` an observation at raw step ``t`` is the frames
  ``t - m + 1 .. t`` concatenated along channels (frame 0 repeated before the episode starts,
  as the environment batch does after a reset);
- **action scaling**: actions are divided by ``action_scale`` (the box's half-range) so every
  environment's macro actions lie in ``[-1, 1]`` for the world model and the planner.

Frames are average-pooled by ``pool`` once, when the sampler is built (kept as uint8), and turned
into float in ``[0, 1]`` per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from hjepa.data.pixel_trajectories import PixelTrajectories


@dataclass
class PixelWindows:
    """A batch: obs (B, W+1, m*C, h, w) float32 in [0, 1]; actions (B, W, k*A) float32 (scaled);
    positions (B, W+1, 2) float32 — the probe targets of the true states (the name is what the
    world-model diagnostics read); states (B, W+1, S) float64; episode (B,), start (B,)."""

    obs: torch.Tensor
    actions: torch.Tensor
    positions: torch.Tensor
    states: torch.Tensor
    episode: torch.Tensor
    start: torch.Tensor


def pool_frames(frames: np.ndarray, pool: int) -> torch.Tensor:
    """``(..., C, H, W)`` uint8 -> ``(..., C, H/pool, W/pool)`` uint8 (rounded box average)."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames))
    if pool == 1:
        return tensor
    lead, (c, h, w) = tensor.shape[:-3], tensor.shape[-3:]
    if h % pool or w % pool:
        raise ValueError(f"pool {pool} does not divide the frame size {h}x{w}")
    out = []
    flat = tensor.reshape(-1, c, h, w)
    for start in range(0, flat.shape[0], 4096):  # bounded float memory
        block = F.avg_pool2d(flat[start:start + 4096].float(), pool)
        out.append(block.round_().to(torch.uint8))
    return torch.cat(out).reshape(*lead, c, h // pool, w // pool)


def stack_frames(frames: torch.Tensor, episode: torch.Tensor, steps: torch.Tensor, frame_stack: int) -> torch.Tensor:
    """Stacked observations: frames ``(E, T+1, C, h, w)``, episode/steps ``(...)`` ->
    ``(..., frame_stack * C, h, w)`` uint8, oldest frame first."""
    offsets = torch.arange(frame_stack - 1, -1, -1)  # (m,): m-1 .. 0 steps back
    idx = (steps.unsqueeze(-1) - offsets).clamp_min(0)  # (..., m)
    picked = frames[episode.unsqueeze(-1), idx]  # (..., m, C, h, w)
    return picked.reshape(*picked.shape[:-4], -1, *picked.shape[-2:])


class PixelWindowSampler:
    """Draws random windows from a :class:`PixelTrajectories` dataset.

    Args:
        dataset: the episodes.
        window: macro steps per window.
        frameskip: raw steps per macro step ``k``.
        frame_stack: frames per observation ``m``.
        pool: average-pool factor of the frames.
        action_scale: ``(A,)`` divisor of the raw actions (the box's half-range).
        probe_targets: ``states (N, S) -> (N, 2)`` numpy function giving the diagnostics' targets.
    """

    def __init__(
        self, dataset: PixelTrajectories, window: int, frameskip: int, frame_stack: int, pool: int,
        action_scale: np.ndarray, probe_targets: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        if min(window, frameskip, frame_stack, pool) < 1:
            raise ValueError(f"window, frameskip, frame_stack and pool must be >= 1, got "
                             f"{window}, {frameskip}, {frame_stack}, {pool}")
        self.span = window * frameskip
        if dataset.steps < self.span:
            raise ValueError(f"episodes have {dataset.steps} steps, too short for window {window} x frameskip "
                             f"{frameskip} = {self.span} steps")
        scale = np.asarray(action_scale, dtype=np.float32).reshape(-1)
        if scale.shape != (dataset.actions.shape[-1],) or not (scale > 0).all():
            raise ValueError(f"action_scale must be ({dataset.actions.shape[-1]},) positive, got {action_scale}")
        self.dataset = dataset
        self.window, self.frameskip, self.frame_stack, self.pool = window, frameskip, frame_stack, pool
        self.frames = pool_frames(dataset.frames, pool)  # (E, T+1, C, h, w) uint8
        self.actions = torch.from_numpy(dataset.actions / scale)  # (E, T, A) float32
        self.states = torch.from_numpy(dataset.states)  # (E, T+1, S)
        self.targets = torch.from_numpy(probe_targets(dataset.states).astype(np.float32))  # (E, T+1, 2)

    @property
    def obs_shape(self) -> tuple[int, int, int]:
        c, h, w = self.frames.shape[-3:]
        return (self.frame_stack * c, h, w)

    def sample(self, batch: int, generator: torch.Generator | None = None) -> PixelWindows:
        episode = torch.randint(len(self.dataset), (batch,), generator=generator)
        start = torch.randint(self.dataset.steps - self.span + 1, (batch,), generator=generator)
        return self.gather(episode, start)

    def gather(self, episode: torch.Tensor, start: torch.Tensor) -> PixelWindows:
        """Windows for episode indices ``(B,)`` and raw start steps ``(B,)``."""
        k, T = self.frameskip, self.window
        batch = episode.shape[0]
        obs_steps = start.unsqueeze(1) + k * torch.arange(T + 1)  # (B, T+1)
        ep = episode.unsqueeze(1).expand(-1, T + 1)
        obs = stack_frames(self.frames, ep, obs_steps, self.frame_stack).float().div_(255.0)
        act_steps = start.unsqueeze(1) + torch.arange(T * k)  # (B, T*k)
        actions = self.actions[episode.unsqueeze(1), act_steps].reshape(batch, T, -1)
        return PixelWindows(
            obs, actions, self.targets[ep, obs_steps], self.states[ep, obs_steps], episode, start,
        )
