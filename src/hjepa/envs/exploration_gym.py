"""Reward-free exploration policies for the external pixel environments, and the collection loop.

Two policies, both documented in docs/environments.md:

- :class:`CorrelatedNoisePolicy` (PointMaze, Pendulum, reacher, cube): Gaussian AR(1) actions
  ``a[t] = rho * a[t-1] + sqrt(1 - rho^2) * sigma * eps``, clipped to the box, with ``sigma`` a
  fraction of the half-range. ``rho`` near 1 gives long pushes in one direction (the ball
  crosses cells, the pendulum swings, the arm sweeps the arena); ``rho = 0`` is i.i.d. noise.
- :class:`PushSeekingPolicy` (PushT): the agent walks toward waypoints; with probability
  ``push_prob`` a waypoint lies on the far side of the T-block from the agent (so the walk goes
  *through* the block and pushes or turns it), otherwise anywhere on the board. Uniform random
  targets almost never touch the block, and a world model only learns the contacts its data
  shows (docs/world_model.md). The policy reads the true state; the world model never does.

Randomness comes from one ``numpy.random.Generator`` passed in; a seed repeats a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hjepa.envs.adapters.batch import PixelEnvBatch
from hjepa.errors import InputError
from hjepa.runs.progress import progress


@dataclass
class CorrelatedNoisePolicy:
    """AR(1) Gaussian actions in the box ``[low, high]``.

    Args:
        low, high: ``(A,)`` action bounds.
        rho: correlation of consecutive actions, in ``[0, 1)``.
        sigma: stationary std as a fraction of the half-range ``(high - low) / 2``.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    rho: float = 0.9
    sigma: float = 0.7

    def __post_init__(self) -> None:
        if not 0.0 <= self.rho < 1.0:
            raise InputError(f"rho must be in [0, 1), got {self.rho}")
        if not self.sigma > 0:
            raise InputError(f"sigma must be > 0, got {self.sigma}")

    def reset(self, n: int, rng: np.random.Generator) -> None:
        half = (np.asarray(self.high) - np.asarray(self.low)) / 2
        self._center = (np.asarray(self.high) + np.asarray(self.low)) / 2
        self._scale = self.sigma * half
        self._noise = rng.standard_normal((n, len(self.low)))  # stationary start

    def act(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``states (N, S)`` (unused) -> actions ``(N, A)``."""
        eps = rng.standard_normal(self._noise.shape)
        self._noise = self.rho * self._noise + np.sqrt(1.0 - self.rho**2) * eps
        return np.clip(self._center + self._scale * self._noise, self.low, self.high)

    def describe(self) -> dict:
        return {"name": "correlated_noise", "params": {k: getattr(self, k) for k in ("low", "high", "rho", "sigma")}}


@dataclass
class PushSeekingPolicy:
    """PushT waypoint walker that often walks through the T-block (see the module docstring).

    Args:
        max_step: bound of the relative action per axis (the adapter's ``max_step``).
        push_prob: probability that a new waypoint is behind the block.
        overshoot: how far past the block's centre a push waypoint lies (upstream units).
        noise: std of the Gaussian added to each action, as a fraction of ``max_step``.
        patience: steps after which a waypoint is given up.
    """

    max_step: float = 40.0
    push_prob: float = 0.5
    overshoot: float = 60.0
    noise: float = 0.3
    patience: int = 15

    def __post_init__(self) -> None:
        if not 0.0 <= self.push_prob <= 1.0:
            raise InputError(f"push_prob must be in [0, 1], got {self.push_prob}")
        if self.max_step <= 0 or self.noise < 0 or self.patience < 1:
            raise InputError("max_step must be > 0, noise >= 0 and patience >= 1")

    def reset(self, n: int, rng: np.random.Generator) -> None:
        self._waypoints = np.full((n, 2), np.nan)
        self._age = np.zeros(n, dtype=np.int64)

    def _new_waypoints(self, states: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> None:
        agent, block = states[rows, :2], states[rows, 2:4]
        anywhere = rng.uniform(60.0, 450.0, (len(rows), 2))
        away = block - agent
        away /= np.linalg.norm(away, axis=1, keepdims=True).clip(1e-6)
        angle = rng.normal(0.0, 0.6, len(rows))  # spread the pushing direction
        c, s = np.cos(angle), np.sin(angle)
        direction = np.stack([c * away[:, 0] - s * away[:, 1], s * away[:, 0] + c * away[:, 1]], axis=1)
        behind = block + direction * rng.uniform(0.3, 1.0, (len(rows), 1)) * self.overshoot
        push = rng.random(len(rows)) < self.push_prob
        self._waypoints[rows] = np.clip(np.where(push[:, None], behind, anywhere), 20.0, 492.0)
        self._age[rows] = 0

    def act(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``states (N, 10)`` PushT states -> relative actions ``(N, 2)``."""
        agent = states[:, :2]
        reached = np.linalg.norm(self._waypoints - agent, axis=1) < 15.0
        stale = ~np.isfinite(self._waypoints).all(1) | reached | (self._age >= self.patience)
        if stale.any():
            self._new_waypoints(states, np.nonzero(stale)[0], rng)
        self._age += 1
        action = self._waypoints - agent + rng.normal(0.0, self.noise * self.max_step, agent.shape)
        return np.clip(action, -self.max_step, self.max_step)

    def describe(self) -> dict:
        names = ("max_step", "push_prob", "overshoot", "noise", "patience")
        return {"name": "push_seeking", "params": {k: getattr(self, k) for k in names}}


def collect_pixel_episodes(
    batch: PixelEnvBatch, policy, episodes: int, steps: int, seed: int, show_progress: bool = False
) -> dict[str, np.ndarray]:
    """Run ``policy`` from the environment's own initial states, ``len(batch)`` episodes at a time.

    Returns arrays ``frames (E, T+1, C, H, W)`` uint8 (single frames, whatever the batch's
    ``frame_stack``), ``actions (E, T, A)`` float32 and ``states (E, T+1, S)`` float64, and
    ``seeds (E,)`` int64, the reset seed of each episode.
    """
    if episodes < 1 or steps < 1:
        raise InputError(f"episodes and steps must be >= 1, got {episodes} and {steps}")
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31 - 1, episodes)
    n = len(batch)
    c, h, w = batch.spec.obs_shape
    frames = np.empty((episodes, steps + 1, c, h, w), np.uint8)
    actions = np.empty((episodes, steps, batch.spec.action_dim), np.float32)
    states = np.empty((episodes, steps + 1, batch.spec.state_dim), np.float64)
    for start in progress(range(0, episodes, n), desc=f"collect {batch.spec.name}", enabled=show_progress):
        rows = slice(start, min(start + n, episodes))
        m = rows.stop - rows.start
        block_seeds = list(seeds[rows]) + [0] * (n - m)  # spare copies run and are dropped
        obs = batch.reset(block_seeds)
        policy.reset(n, rng)
        state = batch.states()
        frames[rows, 0], states[rows, 0] = obs[:m, -c:], state[:m]
        for t in range(steps):
            action = policy.act(state, rng)
            obs = batch.step(action)
            state = batch.states()
            actions[rows, t] = action[:m]
            frames[rows, t + 1], states[rows, t + 1] = obs[:m, -c:], state[:m]
    return {"frames": frames, "actions": actions, "states": states, "seeds": seeds.astype(np.int64)}
