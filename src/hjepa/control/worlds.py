"""The environments the episode loop steps (:class:`~hjepa.control.protocol.World`).

- :class:`PositionWorld`: Two Rooms and the maze, simulated on positions ``(N, 2)``; a decision's
  action ``(M, 2)`` is held for ``action_repeat`` steps, finished episodes stop where they are,
  success is checked after every step (within ``success_radius`` of the goal, or a given test).
- :class:`PixelWorld`: a batch of pixel environments (:class:`~hjepa.envs.adapters.batch.PixelEnvBatch`);
  a decision's actions ``(N, k, A)`` are one per step, every episode runs the whole budget,
  success is the environment's own test, checked after each decision.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import Tensor

from hjepa.envs.adapters.batch import PixelEnvBatch
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError


class PositionWorld:
    """Two Rooms or the maze on positions (module docstring).

    Args:
        env: has ``step(pos (N, 2), action (N, 2), layout) -> pos`` and ``config.success_radius``.
        reached: ``(tasks, pos (N, 2)) -> (N,)`` bool success test (default: within the
            environment's ``success_radius`` of ``tasks.goal``).
        stop_on_success: an episode stops once it succeeds (False: every episode runs the whole
            budget and success is also judged at the final step, stable-worldmodel's protocol).
    """

    check_every_step = True

    def __init__(self, env, reached: Callable[[Tasks, Tensor], Tensor] | None = None, stop_on_success: bool = True) -> None:
        self.stop_on_success = stop_on_success
        self.env = env
        self.reached = reached
        self.tasks: Tasks | None = None
        self.pos = torch.zeros(0, 2)
        self._held = torch.zeros(0, 2)

    def reset(self, tasks: Tasks) -> None:
        self.tasks = tasks
        self.pos = tasks.start.clone().float()

    def observe(self) -> Tensor:
        """The positions ``(N, 2)``: pixel controllers render their own observation from them."""
        return self.pos

    def step(self, action: Tensor, rows: Tensor, frozen: Tensor, substep: int) -> None:
        if substep == 0:
            self._held = torch.zeros(len(self.pos), 2)
            self._held[rows] = action.detach().cpu().float()
        moved = self.env.step(self.pos, self._held, self.tasks.layout)
        self.pos = torch.where(frozen.unsqueeze(-1), self.pos, moved)

    def success(self) -> Tensor:
        if self.reached is not None:
            return self.reached(self.tasks, self.pos)
        return (self.pos - self.tasks.goal).norm(dim=-1) <= self.env.config.success_radius

    def state(self) -> Tensor:
        return self.pos

    def distances(self) -> dict[str, Tensor]:
        return {"distance": (self.pos - self.tasks.goal).norm(dim=-1)}

    def frames(self, episodes: int) -> list:
        return []  # Two Rooms and the maze re-render frames from the paths afterwards


class PixelObservation(NamedTuple):
    """What a pixel environment shows a controller: stacked ``frames (N, m*C, H, W)`` uint8 and, when
    the model is given it, ``proprio (N, P)`` float32 (joint angles and velocities, its own position)."""

    frames: np.ndarray
    proprio: np.ndarray | None = None


class PixelWorld:
    """A batch of pixel environments (module docstring).

    Args:
        batch: ``N`` copies with the tasks' frame stack.
        success: ``(states (N, S), goal_states (N, S)) -> (N,)`` bool, the environment's test.
        distances: ``(states, goal_states) -> {name: (N,)}``, reported at the end.
        proprio: ``states (N, S) -> (N, P)``: show the controller the environment's proprioception
            beside the frames (None: frames only).
    """

    stop_on_success = False
    check_every_step = False

    def __init__(self, batch: PixelEnvBatch, success: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 distances: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]],
                 proprio: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.batch, self._success, self._distances, self._proprio = batch, success, distances, proprio
        self.obs: np.ndarray | None = None
        self.goal_states = np.zeros((0, 0))

    def reset(self, tasks: Tasks) -> None:
        if len(self.batch) != len(tasks):
            raise InputError(f"the environment batch has {len(self.batch)} copies for {len(tasks)} tasks")
        self.goal_states = tasks.goal.numpy()
        self.obs = self.batch.set_states(tasks.start.numpy(), tasks.start_frames.numpy())

    def observe(self) -> PixelObservation:
        """Stacked frames ``(N, m*C, H, W)`` uint8, and the proprioception if the world shows it."""
        proprio = None if self._proprio is None else self._proprio(self.batch.states()).astype(np.float32)
        return PixelObservation(self.obs, proprio)

    def step(self, action: np.ndarray, rows: Tensor, frozen: Tensor, substep: int) -> None:
        self.obs = self.batch.step(action[:, substep])

    def success(self) -> Tensor:
        return torch.from_numpy(np.asarray(self._success(self.batch.states(), self.goal_states), dtype=bool))

    def state(self) -> Tensor:
        return torch.from_numpy(self.batch.states())

    def distances(self) -> dict[str, Tensor]:
        return {k: torch.from_numpy(np.asarray(v)) for k, v in self._distances(self.batch.states(), self.goal_states).items()}

    def frames(self, episodes: int) -> list[np.ndarray]:
        """The newest frame ``(C, H, W)`` of each of the first ``episodes`` copies."""
        c = self.batch.spec.obs_shape[0]
        return [self.obs[i, -c:] for i in range(min(episodes, len(self.batch)))]
