"""Gymnasium wrapper around one Two Rooms copy with a cross-room goal-reaching task.

Each ``reset`` draws a layout (unless fixed), a start uniformly in a random room and a goal
uniformly in the other room. Reward is minus the distance to the goal; the episode terminates on
reaching ``success_radius`` and truncates after ``max_episode_steps``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from hjepa.envs.render_rgb import observations_to_rgb
from hjepa.envs.tasks import sample_two_rooms_tasks
from hjepa.envs.two_rooms import Layout, TwoRooms, TwoRoomsConfig
from hjepa.errors import InputError


class TwoRoomsGymEnv(gym.Env):
    """Observation (2, size, size) float32 in [0, 1]; action (2,) displacement, norm-clipped.

    ``reset(options=...)`` accepts optional overrides ``wall_x``, ``door_y``, ``start`` (x, y) and
    ``goal`` (x, y) to replay a given task.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, config: TwoRoomsConfig = TwoRoomsConfig(), render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InputError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.config = config
        self.world = TwoRooms(config)
        self.render_mode = render_mode
        size = config.size
        self.observation_space = spaces.Box(0.0, 1.0, (2, size, size), np.float32)
        self.action_space = spaces.Box(-config.max_step, config.max_step, (2,), np.float32)
        self._layout: Layout | None = None
        self._pos: torch.Tensor | None = None  # (1, 2)
        self._goal: torch.Tensor | None = None  # (1, 2)
        self._steps = 0

    def _obs(self, pos: torch.Tensor) -> np.ndarray:
        assert self._layout is not None
        return self.world.render(pos, self._layout)[0].numpy().astype(np.float32)

    def _info(self) -> dict:
        assert self._pos is not None and self._goal is not None and self._layout is not None
        distance = float((self._pos - self._goal).norm())
        return {
            "pos": self._pos[0].numpy().copy(),
            "goal": self._goal[0].numpy().copy(),
            "wall_x": int(self._layout.wall_x[0]),
            "door_y": float(self._layout.door_y[0]),
            "distance": distance,
            "success": distance <= self.config.success_radius,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        generator = torch.Generator().manual_seed(int(self.np_random.integers(0, 2**62)))
        task = sample_two_rooms_tasks(self.world, 1, generator)
        layout, start, goal = task.layout, task.start, task.goal
        options = options or {}
        if "wall_x" in options:
            layout.wall_x = torch.tensor([int(options["wall_x"])], dtype=torch.long)
        if "door_y" in options:
            layout.door_y = torch.tensor([float(options["door_y"])], dtype=torch.float32)
        if "start" in options:
            start = torch.as_tensor(np.asarray(options["start"], dtype=np.float32)).view(1, 2)
        if "goal" in options:
            goal = torch.as_tensor(np.asarray(options["goal"], dtype=np.float32)).view(1, 2)
        for name, p in (("start", start), ("goal", goal)):
            if not bool(self.world.is_free(p, layout).all()):
                raise InputError(f"{name} {p[0].tolist()} is not in free space of the layout")
        self._layout, self._pos, self._goal, self._steps = layout, start, goal, 0
        info = self._info()
        info["goal_obs"] = self._obs(goal)
        return self._obs(start), info

    def step(self, action):
        if self._pos is None:
            raise RuntimeError("call reset() before step()")
        action_t = torch.as_tensor(np.asarray(action, dtype=np.float32)).view(1, 2)
        if not bool(torch.isfinite(action_t).all()):
            raise InputError(f"action must be finite, got {action}")
        self._pos = self.world.step(self._pos, action_t, self._layout)
        self._steps += 1
        info = self._info()
        terminated = info["success"]
        truncated = self._steps >= self.config.max_episode_steps and not terminated
        return self._obs(self._pos), -info["distance"], terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array" or self._pos is None:
            return None
        obs = self.world.render(self._pos, self._layout)
        return observations_to_rgb(obs, self._goal, dot_sigma=self.config.dot_sigma)[0]

    @property
    def goal_obs(self) -> np.ndarray:
        """Rendered goal observation (2, size, size) of the current episode."""
        assert self._goal is not None
        return self._obs(self._goal)
