"""PointMaze U-maze (``gymnasium-robotics`` ``PointMaze_UMaze-v3``) from pixels, rendered by
MuJoCo offscreen (``MUJOCO_GL=egl`` unless the user set another backend).

The camera looks straight down on the whole maze, and the environment's red target marker is made
invisible: the goal is given as an observation, never drawn into the scene.

Action: the force on the ball, ``(fx, fy)`` in ``[-1, 1]^2`` (upstream). State (S = 4): ball
position ``(x, y)`` and velocity ``(vx, vy)`` in the simulator's coordinates (cells of 1 m, the
maze centred at the origin). Success (DINO-WM's PointMaze ``eval_state``): the ball's position is
within 0.5 of the goal's.
"""

from __future__ import annotations

import numpy as np

from hjepa.envs.adapters.base import PixelEnv, PixelSpec, check_size, to_chw_uint8
from hjepa.envs.adapters.extras import require, use_egl_by_default

STATE_NAMES = ("x", "y", "vx", "vy")
SUCCESS_RADIUS = 0.5
"""DINO-WM: ``||goal[:2] - state[:2]|| < 0.5`` (one maze cell is 1)."""


def pointmaze_success(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """DINO-WM's PointMaze success test: states, goals ``(N, 4)`` -> ``(N,)`` bool."""
    return np.linalg.norm(states[..., :2] - goals[..., :2], axis=-1) < SUCCESS_RADIUS


def pointmaze_distances(states: np.ndarray, goals: np.ndarray) -> dict[str, np.ndarray]:
    """The ball's distance to the goal position, ``(N,)``."""
    return {"position": np.linalg.norm(states[..., :2] - goals[..., :2], axis=-1)}


def pointmaze_probe_targets(states: np.ndarray) -> np.ndarray:
    """The ball's position, ``(N, 4) -> (N, 2)``."""
    return states[..., :2]


def pointmaze_proprio(states: np.ndarray) -> np.ndarray:
    """The ball's position and velocity, ``(N, 4) -> (N, 4)`` (DINO-WM's PointMaze proprioception)."""
    return states[..., :4]


class PointMazePixels(PixelEnv):
    """PointMaze U-maze with ``(3, size, size)`` top-down RGB observations.

    Args:
        size: side of the observation in pixels.
    """

    def __init__(self, size: int = 64) -> None:
        use_egl_by_default()
        self._mujoco = require("mujoco", "mujoco", "the PointMaze adapter")
        module = require("gymnasium_robotics.envs.maze.point_maze", "gymnasium-robotics", "the PointMaze adapter")
        maps = require("gymnasium_robotics.envs.maze.maps", "gymnasium-robotics", "the PointMaze adapter")
        self.size = check_size(size)
        self.env = module.PointMazeEnv(
            maze_map=maps.U_MAZE, render_mode="rgb_array", width=self.size, height=self.size, continuing_task=False
        )
        self.sim = self.env.point_env  # the MuJoCo ball: qpos (2,), qvel (2,)
        extent = max(self.env.maze.map_length, self.env.maze.map_width) * self.env.maze.maze_size_scaling
        # Straight down on the maze's centre; 45 degree field of view: the maze fills the frame.
        self.sim.mujoco_renderer.default_cam_config = {
            "distance": 0.5 * extent / np.tan(np.radians(22.5)) + 0.2, "elevation": -90.0, "azimuth": 90.0,
            "lookat": np.zeros(3),
        }
        self.sim.model.site_rgba[self.env.target_site_id] = 0.0  # hide the goal marker
        self.spec = PixelSpec(
            "pointmaze", "PointMaze_UMaze-v3", (3, self.size, self.size), (-1.0, -1.0), (1.0, 1.0), STATE_NAMES,
            1.0 / float(self.sim.dt),
        )
        self._started = False

    def reset(self, seed: int) -> np.ndarray:
        self.env.reset(seed=int(seed))
        self._started = True
        return self.render_obs()

    def step(self, action: np.ndarray) -> np.ndarray:
        if not self._started:
            raise RuntimeError("PointMazePixels: call reset() or set_state() before step()")
        self.sim.step(self.clip_action(action))
        return self.render_obs()

    def get_state(self) -> np.ndarray:
        return np.concatenate([self.sim.data.qpos, self.sim.data.qvel]).astype(np.float64)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        state = self.check_state(state)
        if not self._started:
            self.env.reset(seed=0)
            self._started = True
        self.sim.set_state(state[:2].copy(), state[2:].copy())
        return self.render_obs()

    def render_obs(self) -> np.ndarray:
        # mj_step leaves body poses at the start of the step; recompute them for the current qpos
        # so a frame always shows get_state() (and equals the frame set_state renders).
        self._mujoco.mj_forward(self.sim.model, self.sim.data)
        return to_chw_uint8(self.sim.render(), self.size)

    def sample_free_states(self, n: int, rng: np.random.Generator, noise: float = 0.25) -> np.ndarray:
        """``n`` states at rest anywhere in the corridors: a free cell uniformly, its centre moved by
        up to ``noise`` along each axis (the upstream reset's ``position_noise_range``), zero
        velocity. DINO-WM's PointMaze evaluation draws its starts and goals this way
        (``goal_source='random_state'``). Returns ``(n, 4)``."""
        maze = self.env.maze
        cells = [(i, j) for i, row in enumerate(maze.maze_map) for j, v in enumerate(row) if v != 1]
        centres = np.array([maze.cell_rowcol_to_xy(np.array(c)) for c in cells], dtype=np.float64)
        picked = centres[rng.integers(0, len(centres), n)]
        offset = rng.uniform(-noise, noise, (n, 2)) * maze.maze_size_scaling
        return np.concatenate([picked + offset, np.zeros((n, 2))], axis=1)

    def close(self) -> None:
        self.env.close()
