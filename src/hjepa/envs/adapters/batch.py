"""Several copies of a pixel adapter stepped together, with optional frame stacking.

The copies are stepped one after the other in this process (the simulators are single-threaded
Python/C and this project runs on a couple of cores), but everything in and out is batched:
actions ``(N, A)``, states ``(N, S)``, observations ``(N, k * C, H, W)`` uint8 where ``k`` is
``frame_stack`` — the ``k`` most recent frames, oldest first, concatenated along channels
(``k = 2`` lets a single observation show a velocity).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from hjepa.envs.adapters.base import PixelEnv, PixelSpec
from hjepa.errors import InputError


class PixelEnvBatch:
    """``N`` adapter copies made by ``make``; see the module docstring for shapes.

    Args:
        make: builds one adapter copy.
        copies: ``N``.
        frame_stack: frames per observation ``k >= 1``.
    """

    def __init__(self, make: Callable[[], PixelEnv], copies: int, frame_stack: int = 1) -> None:
        if copies < 1:
            raise InputError(f"copies must be >= 1, got {copies}")
        if frame_stack < 1:
            raise InputError(f"frame_stack must be >= 1, got {frame_stack}")
        self.envs: list[PixelEnv] = [make() for _ in range(copies)]
        self.frame_stack = frame_stack
        self._frames: np.ndarray | None = None  # (N, k, C, H, W) uint8

    @property
    def spec(self) -> PixelSpec:
        return self.envs[0].spec

    def __len__(self) -> int:
        return len(self.envs)

    @property
    def obs_shape(self) -> tuple[int, int, int]:
        """``(k * C, H, W)`` of one stacked observation."""
        c, h, w = self.spec.obs_shape
        return (self.frame_stack * c, h, w)

    def _stacked(self) -> np.ndarray:
        assert self._frames is not None
        n, k, c, h, w = self._frames.shape
        return self._frames.reshape(n, k * c, h, w).copy()

    def _start(self, frames: list[np.ndarray]) -> np.ndarray:
        first = np.stack(frames)  # (N, C, H, W)
        self._frames = np.repeat(first[:, None], self.frame_stack, axis=1)
        return self._stacked()

    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        """Reset copy ``i`` with ``seeds[i]``; the stack holds the first frame ``k`` times."""
        if len(seeds) != len(self.envs):
            raise InputError(f"need {len(self.envs)} seeds, got {len(seeds)}")
        return self._start([env.reset(int(s)) for env, s in zip(self.envs, seeds)])

    def step(self, actions: np.ndarray) -> np.ndarray:
        """One step of every copy: actions ``(N, A)`` -> observations ``(N, k * C, H, W)``."""
        if self._frames is None:
            raise RuntimeError("PixelEnvBatch: reset() or set_states() first")
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != (len(self.envs), self.spec.action_dim):
            raise InputError(f"actions must be ({len(self.envs)}, {self.spec.action_dim}), got {actions.shape}")
        new = np.stack([env.step(a) for env, a in zip(self.envs, actions)])  # (N, C, H, W)
        self._frames = np.concatenate([self._frames[:, 1:], new[:, None]], axis=1)
        return self._stacked()

    def states(self) -> np.ndarray:
        """True states ``(N, S)``."""
        return np.stack([env.get_state() for env in self.envs])

    def set_states(self, states: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        """Put copy ``i`` in ``states[i]`` ``(N, S)``.

        ``frames (N, k, C, H, W)`` (e.g. the stored frames that led to these states) become the
        frame stack; without them the stack holds the rendered state ``k`` times.
        """
        states = np.asarray(states, dtype=np.float64)
        if states.shape != (len(self.envs), self.spec.state_dim):
            raise InputError(f"states must be ({len(self.envs)}, {self.spec.state_dim}), got {states.shape}")
        rendered = [env.set_state(s) for env, s in zip(self.envs, states)]
        if frames is None:
            return self._start(rendered)
        expected = (len(self.envs), self.frame_stack, *self.spec.obs_shape)
        if frames.shape != expected:
            raise InputError(f"frames must have shape {expected}, got {frames.shape}")
        self._frames = np.asarray(frames, dtype=np.uint8).copy()
        return self._stacked()

    def close(self) -> None:
        for env in self.envs:
            env.close()
