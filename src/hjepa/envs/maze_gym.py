"""Gymnasium wrapper around one maze copy with a goal-reaching task several rooms away.

Each ``reset`` draws a layout (fixed or random, doors closed at random in the stochastic variant),
a start and a goal ``min_rooms .. max_rooms`` doors apart. Reward is minus the distance to the
goal; the episode terminates on reaching ``success_radius`` and truncates after
``max_episode_steps``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from hjepa.envs.maze import Maze, MazeConfig, MazeLayout
from hjepa.envs.maze_tasks import sample_maze_tasks
from hjepa.envs.render_rgb import observations_to_rgb
from hjepa.errors import InputError


class MazeGymEnv(gym.Env):
    """Observation (2, size, size) float32 in [0, 1]; action (2,) displacement, norm-clipped.

    ``reset(options=...)`` accepts ``start`` (x, y) and ``goal`` (x, y) to replay a given task.
    ``info`` holds ``pos``, ``goal``, ``room``, ``goal_room``, ``rooms_apart``, ``distance``,
    ``success`` and, at reset, ``goal_obs`` (the rendered goal observation).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        config: MazeConfig = MazeConfig(),
        render_mode: str | None = None,
        min_rooms: int = 2,
        max_rooms: int | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InputError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.config = config
        self.world = Maze(config)
        self.render_mode = render_mode
        self.min_rooms = min_rooms
        self.max_rooms = max_rooms
        size = config.size
        self.observation_space = spaces.Box(0.0, 1.0, (2, size, size), np.float32)
        self.action_space = spaces.Box(-config.max_step, config.max_step, (2,), np.float32)
        self._layout: MazeLayout | None = None
        self._walls: torch.Tensor | None = None
        self._pos: torch.Tensor | None = None  # (1, 2)
        self._goal: torch.Tensor | None = None  # (1, 2)
        self._apart = 0
        self._steps = 0

    def _obs(self, pos: torch.Tensor) -> np.ndarray:
        assert self._layout is not None
        return self.world.render(pos, self._layout, self._walls)[0].numpy().astype(np.float32)

    def _info(self) -> dict:
        assert self._pos is not None and self._goal is not None
        distance = float((self._pos - self._goal).norm())
        return {
            "pos": self._pos[0].numpy().copy(),
            "goal": self._goal[0].numpy().copy(),
            "room": int(self.world.room_of(self._pos)[0]),
            "goal_room": int(self.world.room_of(self._goal)[0]),
            "rooms_apart": self._apart,
            "distance": distance,
            "success": distance <= self.config.success_radius,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        generator = torch.Generator().manual_seed(int(self.np_random.integers(0, 2**62)))
        tasks = sample_maze_tasks(self.world, 1, generator, self.min_rooms, self.max_rooms)
        start, goal = tasks.start, tasks.goal
        options = options or {}
        if "start" in options:
            start = torch.as_tensor(np.asarray(options["start"], dtype=np.float32)).view(1, 2)
        if "goal" in options:
            goal = torch.as_tensor(np.asarray(options["goal"], dtype=np.float32)).view(1, 2)
        for name, p in (("start", start), ("goal", goal)):
            if not bool(torch.isfinite(p).all()) or not bool(self.world.is_free(p, tasks.layout).all()):
                raise InputError(f"{name} {p[0].tolist()} is not in free space of the layout")
        self._layout, self._pos, self._goal, self._steps = tasks.layout, start, goal, 0
        self._walls = self.world.wall_mask(tasks.layout)
        dist = self.world.room_distances(tasks.layout)[0]
        self._apart = int(dist[self.world.room_of(start)[0], self.world.room_of(goal)[0]])
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
        obs = self.world.render(self._pos, self._layout, self._walls)
        return observations_to_rgb(obs, self._goal, dot_sigma=self.config.dot_sigma)[0]
