"""dm-control suite reacher (task ``easy``) from pixels, rendered by MuJoCo offscreen
(``MUJOCO_GL=egl`` unless the user set another backend). Needs ``dm-control`` 1.0.50 with
``mujoco`` 3.17.0 (the ``envs`` extra pins both).

The suite's own top-down camera (``fixed``, camera 0) shows the whole 0.6 m x 0.6 m arena: the
two-link arm, its fingertip and the suite's red target sphere (reacher-easy's, radius 0.05 m).
The target is part of the scene, not the goal: the goal is given as an observation (a frame of
the arm elsewhere), as for the other environments. Frames are drawn at twice the observation size
and box-averaged down (the arm is two pixels wide at 64 px); light shadows and the floor's
reflection are switched off, which keeps the picture and makes a frame about 3x cheaper to draw on
a CPU (software EGL).

Action: the two joint torques (shoulder, wrist) in ``[-1, 1]^2`` (upstream). The simulator steps
at 50 Hz (one physics step of 0.02 s per action). State (S = 6): shoulder angle (wrapped to
``[-pi, pi)``; the joint is unlimited), wrist angle (limited to +-160 degrees), their angular
velocities, and the target's position ``(x, y)`` (so that ``set_state`` restores the whole scene).
One frame does not show the velocities: the job stacks two frames.

Goal reaching (the suite has no goal-image protocol; ours): the fingertip of the state is within
``SUCCESS_RADIUS`` = 0.06 m of the goal state's fingertip. 0.06 m is the target radius of
reacher-easy plus the fingertip's radius, the distance within which the suite's sparse reward is
1: our test is the suite's own success, with its target placed at the goal's fingertip. The
velocities and the target do not count (the suite's reward ignores them too).

:class:`ReacherSimulator` is the same physics without a renderer: many rollouts from given states
in one call, stepped in C by ``mujoco.rollout`` (about 2 us per step on one core).
"""

from __future__ import annotations

import numpy as np

from hjepa.envs.adapters.base import PixelEnv, PixelSpec, check_rollout_inputs, check_size, to_chw_uint8, wrap_angle
from hjepa.envs.adapters.extras import MissingExtraError, require, use_egl_by_default

STATE_NAMES = ("shoulder", "wrist", "shoulder_dot", "wrist_dot", "target_x", "target_y")
UPPER_ARM = 0.12
"""Shoulder to wrist, m (reacher.xml: the ``hand`` body's position in the ``arm`` body)."""
FOREARM = 0.12
"""Wrist to fingertip centre, m (reacher.xml: the ``finger`` body's position in the ``hand`` body)."""
SUCCESS_RADIUS = 0.06
"""reacher-easy's target radius (0.05) plus the fingertip's (0.01): the suite's reward radius."""
CAMERA = 0
"""The suite's ``fixed`` camera, straight down on the arena."""


def fingertip(states: np.ndarray) -> np.ndarray:
    """Fingertip centre ``(x, y)`` in metres from the joint angles (planar forward kinematics):
    states ``(..., 6)`` -> ``(..., 2)``."""
    shoulder, elbow = states[..., 0], states[..., 0] + states[..., 1]
    return np.stack([UPPER_ARM * np.cos(shoulder) + FOREARM * np.cos(elbow),
                     UPPER_ARM * np.sin(shoulder) + FOREARM * np.sin(elbow)], axis=-1)


def reacher_distances(states: np.ndarray, goals: np.ndarray) -> dict[str, np.ndarray]:
    """The fingertip's distance to the goal's fingertip in metres, ``(N,)``."""
    return {"fingertip": np.linalg.norm(fingertip(states) - fingertip(goals), axis=-1)}


def reacher_success(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Fingertip within 0.06 m of the goal's fingertip: states, goals ``(N, 6)`` -> ``(N,)`` bool."""
    return reacher_distances(states, goals)["fingertip"] < SUCCESS_RADIUS


def reacher_probe_targets(states: np.ndarray) -> np.ndarray:
    """The fingertip's position, ``(N, 6) -> (N, 2)`` (the angles are not linear in anything)."""
    return fingertip(states)


def reacher_proprio(states: np.ndarray) -> np.ndarray:
    """The arm's joint sensors: cos and sin of both angles and their velocities (/ 10),
    ``(N, 6) -> (N, 6)`` (the target is not the arm's to sense)."""
    return np.concatenate([np.cos(states[..., :2]), np.sin(states[..., :2]), states[..., 2:4] / 10.0], axis=-1)


def load_reacher_easy(what: str):
    """The suite's reacher-easy environment without a time limit (episodes are as long as the caller
    steps them; no automatic reset); ``what`` names the caller in the missing-extra error."""
    use_egl_by_default()
    mujoco = require("mujoco", "mujoco", what)
    suite = require("dm_control.suite", "dm-control", what)
    try:
        return suite.load("reacher", "easy", task_kwargs={"random": 0, "time_limit": float("inf")})
    except AttributeError as error:  # dm-control built against another MuJoCo (fields it lacks)
        raise MissingExtraError(
            f"{what}: dm-control could not build reacher with mujoco {mujoco.__version__} "
            f"({error}); it needs the versions the envs extra pins: pip install 'hjepa[envs]'"
        ) from error


class ReacherPixels(PixelEnv):
    """dm-control reacher-easy with ``(3, size, size)`` top-down RGB observations.

    Args:
        size: side of the observation in pixels.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = check_size(size)
        self.env = load_reacher_easy("the reacher adapter")
        self.physics = self.env.physics
        self.physics.model.light_castshadow[:] = 0  # no shadows, no floor reflection (module docstring)
        self.physics.model.mat_reflectance[:] = 0.0
        self.spec = PixelSpec(
            "reacher", "dm_control/reacher-easy", (3, self.size, self.size), (-1.0, -1.0), (1.0, 1.0), STATE_NAMES,
            1.0 / float(self.env.control_timestep()),
        )
        self._started = False

    def reset(self, seed: int) -> np.ndarray:
        self.env.task.random.seed(int(seed))  # the suite's initial state and target come from it
        self.env.reset()
        self._started = True
        return self.render_obs()

    def step(self, action: np.ndarray) -> np.ndarray:
        if not self._started:
            raise RuntimeError("ReacherPixels: call reset() or set_state() before step()")
        self.env.step(self.clip_action(action))
        return self.render_obs()

    def get_state(self) -> np.ndarray:
        named = self.physics.named
        qpos = np.asarray(self.physics.data.qpos, dtype=np.float64)
        return np.array([
            float(wrap_angle(qpos[0])), qpos[1], *np.asarray(self.physics.data.qvel, dtype=np.float64),
            *np.asarray(named.model.geom_pos["target", ["x", "y"]], dtype=np.float64),
        ], dtype=np.float64)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        state = self.check_state(state)
        if not self._started:  # dm-control's first step of an episode never begun is a reset() instead
            self.env.reset()
        named = self.physics.named
        with self.physics.reset_context():  # mj_resetData, then mj_forward on leaving the block
            self.physics.data.qpos[:] = state[:2]
            self.physics.data.qvel[:] = state[2:4]
            named.model.geom_pos["target", ["x", "y"]] = state[4:6]
        self._started = True
        return self.render_obs()

    def render_obs(self) -> np.ndarray:
        frame = self.physics.render(2 * self.size, 2 * self.size, camera_id=CAMERA)
        return to_chw_uint8(np.ascontiguousarray(frame), self.size)

    def close(self) -> None:
        self.physics.free()


class ReacherSimulator:
    """reacher-easy's physics alone, rolled out in batches by ``mujoco.rollout`` (a
    :class:`~hjepa.envs.adapters.base.Simulator`).

    ``simulate(states (N, 6), actions (N, T, 2)) -> (N, T, 6)``: row ``i`` starts as
    :meth:`ReacherPixels.set_state` leaves the physics (``mj_resetData``: time 0, no solver warm
    start; then the joint angles and velocities) and holds each action for the suite's physics
    steps per control (one step of 0.02 s), with the torques clipped to ``[-1, 1]`` as the adapter
    clips them. The target does not move and is copied through. One thread.
    """

    def __init__(self) -> None:
        self.env = load_reacher_easy("the reacher simulator")  # first: it picks MuJoCo's renderer
        mujoco = require("mujoco", "mujoco", "the reacher simulator")
        self._rollout = require("mujoco.rollout", "mujoco", "the reacher simulator").rollout
        self.model = self.env.physics.model.ptr
        self.substeps = round(self.env.control_timestep() / self.model.opt.timestep)  # physics steps per action
        self.data = mujoco.MjData(self.model)
        full = mujoco.mjtState.mjSTATE_FULLPHYSICS.value
        self.template = np.zeros(mujoco.mj_stateSize(self.model, full))
        mujoco.mj_getState(self.model, self.data, self.template, full)  # a reset state: time 0, rest
        # mj_getState writes the parts in the order of their bits: qpos follows the parts below it.
        self.qpos = mujoco.mj_stateSize(self.model, full & (mujoco.mjtState.mjSTATE_QPOS.value - 1))
        self.qvel = mujoco.mj_stateSize(self.model, full & (mujoco.mjtState.mjSTATE_QVEL.value - 1))
        self.warmstart = np.zeros((1, self.model.nv))

    def simulate(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """States ``(N, 6)``, torques ``(N, T, 2)`` -> the states after each step ``(N, T, 6)``."""
        states, control = check_rollout_inputs("reacher", states, actions, len(STATE_NAMES), (-1.0, -1.0), (1.0, 1.0))
        n, horizon = control.shape[:2]
        control = np.repeat(control, self.substeps, axis=1)
        initial = np.repeat(self.template[None], n, axis=0)  # (N, nstate)
        initial[:, self.qpos : self.qpos + 2] = states[:, :2]
        initial[:, self.qvel : self.qvel + 2] = states[:, 2:4]
        path, _ = self._rollout(self.model, self.data, initial, control, initial_warmstart=self.warmstart)
        path = path[:, self.substeps - 1 :: self.substeps]  # (N, T, nstate): after each action
        qpos, qvel = path[..., self.qpos : self.qpos + 2], path[..., self.qvel : self.qvel + 2]  # (N, T, 2) each
        target = np.broadcast_to(states[:, None, 4:6], (n, horizon, 2))
        return np.concatenate([wrap_angle(qpos[..., :1]), qpos[..., 1:], qvel, target], axis=-1)

    def close(self) -> None:
        self.env.physics.free()
