"""The external environments hjepa adapts, by name, with their success tests and probe targets.

Importing the adapters needs none of the optional packages: each imports its simulator when built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from hjepa.envs.adapters import cube, pendulum, pointmaze, pusht, reacher
from hjepa.envs.adapters.base import PixelEnv, Simulator
from hjepa.errors import InputError

EnvName = Literal["pusht", "pointmaze", "pendulum", "reacher", "cube"]
ENV_NAMES: tuple[str, ...] = ("pusht", "pointmaze", "pendulum", "reacher", "cube")


@dataclass(frozen=True)
class EnvFunctions:
    """How to build one environment and judge its states.

    Attributes:
        make: ``size -> PixelEnv`` (imports the optional package; raises ``MissingExtraError``).
        success: ``(states (N, S), goals (N, S)) -> (N,)`` bool, the published success test (or
            ours, documented in the adapter, where none is published).
        distances: ``(states, goals) -> {name: (N,)}`` named distances for reports.
        probe_targets: ``states (N, S) -> (N, 2)``, the two state quantities the world-model
            diagnostics' linear probe looks for in the representation.
        proprio: ``states (N, S) -> (N, P)``, what the agent senses of itself (joint angles and
            velocities, its own position), the proprioception DINO-WM gives its model beside the image.
        simulator: builds the environment's batched true dynamics (:class:`~hjepa.envs.adapters.base.Simulator`),
            or None where the adapter has none (no "true simulator" baseline then).
        goal_features: ``states (..., S) -> (..., F)``, whose Euclidean distance to the goal's is the
            cost of planning on the true simulator: what the success test measures (reacher: the
            fingertip; PushT: agent and block pose). None without a simulator.
    """

    make: Callable[[int], PixelEnv]
    success: Callable[[np.ndarray, np.ndarray], np.ndarray]
    distances: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]
    probe_targets: Callable[[np.ndarray], np.ndarray]
    proprio: Callable[[np.ndarray], np.ndarray]
    simulator: Callable[[], Simulator] | None = None
    goal_features: Callable[[np.ndarray], np.ndarray] | None = None


def env_functions(name: str) -> EnvFunctions:
    """The :class:`EnvFunctions` of ``name`` (one of :data:`ENV_NAMES`)."""
    if name == "pusht":
        return EnvFunctions(pusht.PushTPixels, pusht.pusht_success, pusht.pusht_distances, pusht.pusht_probe_targets,
                            pusht.pusht_proprio, pusht.PushTSimulator, pusht.pusht_pose_features)
    if name == "pointmaze":
        return EnvFunctions(
            pointmaze.PointMazePixels, pointmaze.pointmaze_success, pointmaze.pointmaze_distances,
            pointmaze.pointmaze_probe_targets, pointmaze.pointmaze_proprio,
        )
    if name == "pendulum":
        return EnvFunctions(
            pendulum.PendulumPixels, pendulum.pendulum_success, pendulum.pendulum_distances,
            pendulum.pendulum_probe_targets, pendulum.pendulum_proprio,
        )
    if name == "reacher":
        return EnvFunctions(
            reacher.ReacherPixels, reacher.reacher_success, reacher.reacher_distances, reacher.reacher_probe_targets,
            reacher.reacher_proprio, reacher.ReacherSimulator, reacher.fingertip,
        )
    if name == "cube":  # no simulator: its inverse kinematics run in Python, ~1.5 ms per step (docs/environments.md)
        return EnvFunctions(cube.CubeScenes(), cube.cube_success, cube.cube_distances, cube.cube_probe_targets,
                            cube.cube_proprio)
    raise InputError(f"unknown environment {name!r}: choose one of {', '.join(ENV_NAMES)}")
