"""Pendulum-v1 (gymnasium classic control) from pixels of its own renderer.

Observations are the environment's ``rgb_array`` frames (drawn with pygame at 500x500) resized
to ``size``; the torque arrow the renderer draws after a step is switched off, so a frame shows
the pendulum only. One frame does not show the angular velocity: the job stacks consecutive
frames (``frame_stack`` 2 by default for this environment).

Action: torque ``(1,)`` in ``[-2, 2]``. State (S = 2): angle ``theta`` (0 = upright, wrapped to
``[-pi, pi)``) and angular velocity. Goal reaching (no published protocol; ours): the wrapped
angle difference to the goal is below pi/9 (20 degrees, PushT's angle tolerance) and the angular
velocity is within 1 rad/s of the goal's (the upstream range is [-8, 8]).
"""

from __future__ import annotations

import numpy as np

from hjepa.envs.adapters.base import PixelEnv, PixelSpec, check_size, to_chw_uint8, wrap_angle
from hjepa.envs.adapters.extras import require

STATE_NAMES = ("theta", "theta_dot")
ANGLE_THRESHOLD = np.pi / 9
VELOCITY_THRESHOLD = 1.0


def pendulum_success(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Angle within 20 degrees *and* angular velocity within 1 rad/s of the goal's:
    states, goals ``(N, 2)`` -> ``(N,)`` bool. The angle alone would be passed by any swing
    through the goal angle (random torques do that half of the time)."""
    angle = np.abs(wrap_angle(states[..., 0] - goals[..., 0]))
    return (angle < ANGLE_THRESHOLD) & (np.abs(states[..., 1] - goals[..., 1]) < VELOCITY_THRESHOLD)


def pendulum_distances(states: np.ndarray, goals: np.ndarray) -> dict[str, np.ndarray]:
    """Angle difference in degrees and angular-velocity difference, each ``(N,)``."""
    return {
        "angle_deg": np.degrees(np.abs(wrap_angle(states[..., 0] - goals[..., 0]))),
        "velocity": np.abs(states[..., 1] - goals[..., 1]),
    }


def pendulum_probe_targets(states: np.ndarray) -> np.ndarray:
    """``(cos theta, sin theta)``, ``(N, 2) -> (N, 2)`` (an angle is not linear in anything)."""
    return np.stack([np.cos(states[..., 0]), np.sin(states[..., 0])], axis=-1)


def pendulum_proprio(states: np.ndarray) -> np.ndarray:
    """``(cos theta, sin theta, theta_dot / 8)``, ``(N, 2) -> (N, 3)``: a joint sensor (the whole state)."""
    return np.stack([np.cos(states[..., 0]), np.sin(states[..., 0]), states[..., 1] / 8.0], axis=-1)


class PendulumPixels(PixelEnv):
    """Pendulum-v1 with ``(3, size, size)`` RGB observations.

    Args:
        size: side of the observation in pixels.
    """

    def __init__(self, size: int = 64) -> None:
        require("pygame", "pygame", "the Pendulum adapter (its renderer)")
        from gymnasium.envs.classic_control.pendulum import PendulumEnv

        self.size = check_size(size)
        self.env = PendulumEnv(render_mode="rgb_array")
        # Draw at twice the observation size (upstream: 500x500) and box-average down: the same
        # picture, antialiased, several times cheaper than drawing 500x500 frames.
        self.env.screen_dim = 2 * self.size
        self.spec = PixelSpec(
            "pendulum", "Pendulum-v1", (3, self.size, self.size), (-float(self.env.max_torque),),
            (float(self.env.max_torque),), STATE_NAMES, 1.0 / float(self.env.dt),
        )
        self._started = False

    def reset(self, seed: int) -> np.ndarray:
        self.env.reset(seed=int(seed))
        self._started = True
        return self.render_obs()

    def step(self, action: np.ndarray) -> np.ndarray:
        if not self._started:
            raise RuntimeError("PendulumPixels: call reset() or set_state() before step()")
        self.env.step(self.clip_action(action).astype(np.float32))
        return self.render_obs()

    def get_state(self) -> np.ndarray:
        theta, theta_dot = self.env.state
        return np.array([float(wrap_angle(theta)), float(theta_dot)], dtype=np.float64)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        state = self.check_state(state)
        if not self._started:
            self.env.reset(seed=0)
            self._started = True
        self.env.state = state.copy()
        return self.render_obs()

    def render_obs(self) -> np.ndarray:
        self.env.last_u = None  # no torque arrow: the frame shows the pendulum only
        return to_chw_uint8(self.env.render(), self.size)

    def close(self) -> None:
        self.env.close()
