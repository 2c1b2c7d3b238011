"""Training windows cut from :class:`~hjepa.data.trajectories.Trajectories`: the one window sampler.

A window of ``window`` macro steps with frameskip ``k`` covers ``window * k`` raw steps starting at
raw step ``s``. Its observations are taken at raw steps ``s, s + k, ..., s + window * k``; each
macro action is the ``k`` raw actions it spans, concatenated in time order into a ``k * A`` vector
``[a_0, a_1, ...]``. Where the observations come from is the sampler's :class:`FrameSource`:

- :class:`RenderedFrames`: Two Rooms and the maze render them from the positions and the episode's
  layout (``env.window_frames``), which keeps datasets small;
- :class:`StoredFrames`: the pixel environments' stored frames, average-pooled once, ``m`` frames
  stacked along channels (frame 0 repeated before the episode starts, as the environment batch
  does after a reset); :class:`ProprioFrames` appends the step's proprioception as constant channels.

Options for the pixel environments: ``action_scale`` divides the actions (the box's half-range, so
every environment's macro actions lie in [-1, 1]) and ``probe_targets`` maps simulator states to the
two quantities the diagnostics' probe reads (Two Rooms and the maze: the position itself).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from hjepa.data.trajectories import Trajectories
from hjepa.errors import InputError


@dataclass
class Windows:
    """A batch of windows: obs (B, T+1, C, h, w) float32; actions (B, T, k*A) float32; positions
    (B, T+1, 2) float32, the probe targets at the macro steps; episode (B,) and start (B,) where each
    window begins in its dataset; states (B, T+1, S) float64 (pixel environments) or None."""

    obs: Tensor
    actions: Tensor
    positions: Tensor
    episode: Tensor
    start: Tensor
    states: Tensor | None = None


class FrameSource(Protocol):
    """``(episode (B,), steps (B, T+1), positions (B, T+1, 2) or None) -> obs (B, T+1, C, h, w)``."""

    def __call__(self, episode: Tensor, steps: Tensor, positions: Tensor | None) -> Tensor: ...


class RenderedFrames:
    """Observations rendered from positions and the episodes' layouts by ``env.window_frames``."""

    def __init__(self, env, dataset: Trajectories, pool: int = 1) -> None:
        if pool < 1 or env.config.size % pool:
            raise InputError(f"pool {pool} must be >= 1 and divide the observation size {env.config.size}")
        self.env, self.layout, self.pool = env, dataset.layout(), pool

    def __call__(self, episode: Tensor, steps: Tensor, positions: Tensor | None) -> Tensor:
        return self.env.window_frames(positions, self.layout.index(episode), self.pool)


def pool_frames(frames: Tensor, pool: int) -> Tensor:
    """``(..., C, H, W)`` uint8 -> ``(..., C, H/pool, W/pool)`` uint8 (rounded box average)."""
    if pool == 1:
        return frames
    lead, (c, h, w) = frames.shape[:-3], frames.shape[-3:]
    if h % pool or w % pool:
        raise InputError(f"pool {pool} does not divide the frame size {h}x{w}")
    out = []
    flat = frames.reshape(-1, c, h, w)
    for start in range(0, flat.shape[0], 4096):  # bounded float memory
        block = F.avg_pool2d(flat[start:start + 4096].float(), pool)
        out.append(block.round_().to(torch.uint8))
    return torch.cat(out).reshape(*lead, c, h // pool, w // pool)


def stack_frames(frames: Tensor, episode: Tensor, steps: Tensor, frame_stack: int) -> Tensor:
    """Stacked observations: frames ``(E, T+1, C, h, w)``, episode/steps ``(...)`` ->
    ``(..., frame_stack * C, h, w)`` uint8, oldest frame first."""
    offsets = torch.arange(frame_stack - 1, -1, -1)  # (m,): m-1 .. 0 steps back
    idx = (steps.unsqueeze(-1) - offsets).clamp_min(0)  # (..., m)
    picked = frames[episode.unsqueeze(-1), idx]  # (..., m, C, h, w)
    return picked.reshape(*picked.shape[:-4], -1, *picked.shape[-2:])


class StoredFrames:
    """The dataset's stored frames, pooled once by ``pool`` (kept uint8), ``frame_stack`` of them per
    observation, turned into float in [0, 1] per batch."""

    def __init__(self, dataset: Trajectories, frame_stack: int = 1, pool: int = 1) -> None:
        if dataset.frames is None:
            raise InputError("the dataset holds no frames to sample from")
        if frame_stack < 1 or pool < 1:
            raise InputError(f"frame_stack and pool must be >= 1, got {frame_stack} and {pool}")
        self.frames = pool_frames(dataset.frames, pool)  # (E, T+1, C, h, w) uint8
        self.frame_stack = frame_stack

    @property
    def obs_shape(self) -> tuple[int, int, int]:
        c, h, w = self.frames.shape[-3:]
        return (self.frame_stack * c, h, w)

    def __call__(self, episode: Tensor, steps: Tensor, positions: Tensor | None) -> Tensor:
        ep = episode.unsqueeze(1).expand_as(steps)
        return stack_frames(self.frames, ep, steps, self.frame_stack).float().div_(255.0)


def proprio_planes(proprio: Tensor, height: int, width: int) -> Tensor:
    """``(..., P)`` proprioception -> ``(..., P, height, width)`` constant channels appended to an image,
    so that any convolutional encoder reads it beside the pixels."""
    return proprio.unsqueeze(-1).unsqueeze(-1).expand(*proprio.shape, height, width)


class ProprioFrames:
    """Stored frames with the proprioception of each step appended as ``P`` constant channels
    (``proprio(states (N, S)) -> (N, P)``, the environment's, e.g. joint angles and velocities)."""

    def __init__(self, frames: StoredFrames, dataset: Trajectories, proprio: Callable[[np.ndarray], np.ndarray]) -> None:
        if dataset.states is None:
            raise InputError("proprioception needs the dataset's states")
        self.frames = frames
        self.proprio = torch.from_numpy(proprio(dataset.states.numpy()).astype(np.float32))  # (E, T+1, P)

    def __call__(self, episode: Tensor, steps: Tensor, positions: Tensor | None) -> Tensor:
        obs = self.frames(episode, steps, positions)  # (B, T+1, m*C, h, w)
        planes = proprio_planes(self.proprio[episode.unsqueeze(1), steps], *obs.shape[-2:])
        return torch.cat([obs, planes], dim=2)


class WindowSampler:
    """Draws random windows: episodes uniformly, then start steps uniformly among valid ones.

    Args:
        dataset: the episodes.
        frames: where observations come from (:class:`RenderedFrames` or :class:`StoredFrames`).
        window: macro steps per window.
        frameskip: raw steps per macro step ``k``.
        action_scale: ``(A,)`` divisor of the raw actions (None: 1).
        probe_targets: ``states (N, S) -> (N, 2)`` numpy function giving the diagnostics' targets
            (None: the dataset's positions).
    """

    def __init__(self, dataset: Trajectories, frames: FrameSource, window: int, frameskip: int = 1,
                 action_scale: np.ndarray | None = None,
                 probe_targets: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        if window < 1 or frameskip < 1:
            raise InputError(f"window and frameskip must be >= 1, got {window} and {frameskip}")
        self.span = window * frameskip
        if dataset.steps < self.span:
            raise InputError(f"episodes have {dataset.steps} steps, too short for window {window} x frameskip "
                             f"{frameskip} = {self.span} steps")
        self.dataset, self.frames, self.window, self.frameskip = dataset, frames, window, frameskip
        self.actions = dataset.actions
        if action_scale is not None:
            scale = np.asarray(action_scale, dtype=np.float32).reshape(-1)
            if scale.shape != (dataset.actions.shape[-1],) or not (scale > 0).all():
                raise InputError(f"action_scale must be ({dataset.actions.shape[-1]},) positive, got {action_scale}")
            self.actions = dataset.actions / torch.from_numpy(scale)  # (E, T, A) float32
        if probe_targets is not None:
            self.targets = torch.from_numpy(probe_targets(dataset.states.numpy()).astype(np.float32))  # (E, T+1, 2)
        elif dataset.positions is not None:
            self.targets = dataset.positions
        else:
            raise InputError("windows need positions or a probe_targets function of the states")

    @property
    def action_dim(self) -> int:
        """Numbers per macro action, ``k * A``."""
        return self.frameskip * self.actions.shape[-1]

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Windows:
        episode = torch.randint(len(self.dataset), (batch,), generator=generator)
        start = torch.randint(self.dataset.steps - self.span + 1, (batch,), generator=generator)
        return self.gather(episode, start)

    def gather(self, episode: Tensor, start: Tensor) -> Windows:
        """Windows for episode indices ``(B,)`` and raw start steps ``(B,)``."""
        k, T, batch = self.frameskip, self.window, episode.shape[0]
        obs_steps = start.unsqueeze(1) + k * torch.arange(T + 1)  # (B, T+1)
        ep = episode.unsqueeze(1)
        act_steps = start.unsqueeze(1) + torch.arange(T * k)  # (B, T*k)
        actions = self.actions[ep, act_steps].reshape(batch, T, -1)
        positions = self.dataset.positions[ep, obs_steps] if self.dataset.positions is not None else None
        states = self.dataset.states[ep, obs_steps] if self.dataset.states is not None else None
        obs = self.frames(episode, obs_steps, positions)
        return Windows(obs, actions, self.targets[ep, obs_steps], episode, start, states)


class MixedWindowSampler:
    """Draws each batch from several window samplers in fixed proportions.

    ``fractions`` (one per sampler, summing to 1) set how many of a batch's windows each sampler
    gives: ``round(fraction * batch)``, the remainder going to the first. All samplers must cut
    windows of the same shape (same window and frameskip). Used to keep exploration data in every
    batch while training on new data (e.g. practice episodes, :mod:`hjepa.agent.practice`). The
    windows of a batch come sampler by sampler, in order; their ``episode`` indices refer to their
    own sampler's dataset.
    """

    def __init__(self, samplers: list[WindowSampler], fractions: list[float]) -> None:
        if not samplers or len(samplers) != len(fractions):
            raise InputError(f"need one fraction per sampler, got {len(samplers)} samplers and {len(fractions)} fractions")
        if any(not 0.0 <= f <= 1.0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise InputError(f"fractions must be in [0, 1] and sum to 1, got {fractions}")
        shapes = {(s.window, s.frameskip) for s in samplers}
        if len(shapes) != 1:
            raise InputError(f"samplers cut windows of different shapes (window, frameskip): {sorted(shapes)}")
        self.samplers = list(samplers)
        self.fractions = [float(f) for f in fractions]
        self.window, self.frameskip = samplers[0].window, samplers[0].frameskip

    @property
    def action_dim(self) -> int:
        return self.samplers[0].action_dim

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
        joined = {f.name: [getattr(p, f.name) for p in parts] for f in fields(Windows)}
        return Windows(**{name: None if any(v is None for v in values) else torch.cat(values)
                          for name, values in joined.items()})
