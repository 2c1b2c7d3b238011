"""OGBench's single-cube manipulation scene (``cube-single``) from pixels, rendered by MuJoCo offscreen
(``MUJOCO_GL=egl`` unless the user set another backend). Needs ``ogbench`` 1.2.2 and ``mujoco`` 3.17.0
(the ``envs`` extra pins both).

A UR5e arm with a Robotiq two-finger gripper above a table with one 4 cm cube. The scene, its
physics, its action mapping and its colours are OGBench's own (``CubeEnv(env_type='single')`` built
with ``ob_type='pixels'``: the arm drawn nearly transparent, the gripper purple). The frame is drawn
by OGBench's ``front_pixels`` camera, the one its visual cube tasks use. Three changes make a frame
about 5x cheaper to draw on a CPU (software EGL: ~200 ms -> ~40 ms) without changing what it shows: no
shadows, no reflections, no multisampling. The scene's goal marker (a translucent target cube) is hidden: the
goal is given as an observation, as for the other environments.

Action ``(5,)`` in ``[-1, 1]`` (upstream): the gripper's displacement in x, y, z (+-5 cm per step),
its yaw (+-0.3 rad per step) and the change of its opening (+-1); the scene turns it into joint
targets by inverse kinematics and holds them for 25 physics steps of 2 ms (20 Hz control).

State ``(S = 54,)``: thirteen readouts first, then the physics. The readouts are the cube's position
``(x, y, z)`` and orientation quaternion ``(w, x, y, z)``, the gripper's pinch point ``(x, y, z)``, its
yaw, its opening in ``[0, 1]`` and a contact signal in ``[0, 1]`` (the right pad's contact force / 50,
OGBench's). Then the joint positions ``qpos (21,)`` and velocities ``qvel (20,)``. ``set_state``
writes only the physics; the readouts are recomputed from it (they are there so that success tests,
probes and the privileged expert can read a state without a simulator). After each step the
positions are brought up to date (``mj_forward``), so that the frame, the readouts and the next
action's inverse kinematics see the state that ``set_state`` of the same state would leave (upstream
reads them one physics step stale).

Success (OGBench's own test, with the goal state's cube as the target): the cube's centre within
``SUCCESS_RADIUS`` = 0.04 m of the goal state's cube centre. The arm does not count.
"""

from __future__ import annotations

import atexit
import weakref

import numpy as np

from hjepa.envs.adapters.base import PixelEnv, PixelSpec, check_size, to_chw_uint8
from hjepa.envs.adapters.extras import require, use_egl_by_default
from hjepa.errors import InputError

READOUTS = ("cube_x", "cube_y", "cube_z", "cube_qw", "cube_qx", "cube_qy", "cube_qz",
            "pinch_x", "pinch_y", "pinch_z", "pinch_yaw", "gripper_opening", "gripper_contact")
NQ, NV = 21, 20
"""Joint positions and velocities of the scene: the arm (6), the gripper's linkage (8) and the cube's free joint."""
STATE_NAMES = READOUTS + tuple(f"qpos_{i}" for i in range(NQ)) + tuple(f"qvel_{i}" for i in range(NV))
CUBE, PINCH, YAW, OPENING, CONTACT, PHYSICS = slice(0, 3), slice(7, 10), 10, 11, 12, len(READOUTS)
"""Where the readouts lie in a state."""
SUCCESS_RADIUS = 0.04
"""OGBench's cube success radius, m."""
CAMERA = "front_pixels"
WORKSPACE_CENTRE = (0.425, 0.0, 0.0)
"""The middle of the arm's workspace on the table, m (OGBench's)."""


def cube_yaw(states: np.ndarray) -> np.ndarray:
    """The cube's rotation about the vertical from its quaternion, ``(..., S) -> (...,)`` radians."""
    w, x, y, z = (states[..., 3 + i] for i in range(4))
    return np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def cube_distances(states: np.ndarray, goals: np.ndarray) -> dict[str, np.ndarray]:
    """The cube's and the gripper's distances to the goal state's, m, ``(N,)`` each."""
    return {"cube": np.linalg.norm(states[..., CUBE] - goals[..., CUBE], axis=-1),
            "gripper": np.linalg.norm(states[..., PINCH] - goals[..., PINCH], axis=-1)}


def cube_success(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """The cube within 0.04 m of the goal's cube: states, goals ``(N, 54)`` -> ``(N,)`` bool."""
    return cube_distances(states, goals)["cube"] <= SUCCESS_RADIUS


def cube_probe_targets(states: np.ndarray) -> np.ndarray:
    """The cube's position on the table, ``(N, 54) -> (N, 2)``."""
    return states[..., :2]


def cube_goal_features(states: np.ndarray) -> np.ndarray:
    """What the success test measures: the cube's centre, ``(..., 54) -> (..., 3)``."""
    return states[..., CUBE]


def cube_proprio(states: np.ndarray) -> np.ndarray:
    """What the arm senses of itself (OGBench's proprioception, scaled as it scales it): the pinch
    point relative to the workspace centre x 10, cos and sin of its yaw, the opening x 3 and the
    contact signal, ``(N, 54) -> (N, 7)``."""
    pinch = (states[..., PINCH] - np.asarray(WORKSPACE_CENTRE)) * 10.0
    yaw = states[..., YAW : YAW + 1]
    return np.concatenate([pinch, np.cos(yaw), np.sin(yaw), 3.0 * states[..., OPENING : OPENING + 1],
                           states[..., CONTACT : CONTACT + 1]], axis=-1)


def close_in_own_context(renderer) -> None:
    """Close a MuJoCo renderer in its own GL context: ``Renderer.close`` frees GL objects in whichever
    context is current, another live renderer's when that one drew last (its frames then come out garbled)."""
    context = getattr(renderer, "_gl_context", None)
    if context is not None:
        context.make_current()
    renderer.close()


class CubeScene:
    """One OGBench cube scene and one renderer, shared by the adapters of a batch.

    A scene costs ~0.5 GB (the compiled model, OGBench's inverse-kinematics model, the scene
    description) and its renderer ~0.2 GB more; a copy's own physics (``MjData``) is 0.4 MB. So the
    copies of a batch share one scene: each :class:`CubePixels` holds only its ``MjData`` and hands it
    to the scene, which points OGBench's environment at it for the length of the call (OGBench's
    methods read ``env._data``). The scene's model never changes after it is built (the goal marker
    and the success colours are off), so any copy's state renders the same with it.

    A scene is built once per job and lives as long as its :class:`CubeScenes` (the catalogue entry):
    creating and destroying EGL contexts in turn within one process garbled every other batch's frames
    (they froze at the first), so shared scenes are never closed; a scene of one adapter alone
    (``owned``) is closed with it.

    Args:
        size: side of the frames in pixels.
        owned: closed when its last user releases it (an adapter's own scene).
    """

    def __init__(self, size: int, owned: bool = True) -> None:
        self.owned = owned
        self.size = check_size(size)
        use_egl_by_default()
        self.mujoco = require("mujoco", "mujoco", "the cube adapter")
        cube_env = require("ogbench.manipspace.envs.cube_env", "ogbench", "the cube adapter")
        self.env = cube_env.CubeEnv(env_type="single", ob_type="pixels", mode="data_collection",
                                    visualize_info=False, width=self.size, height=self.size)
        self.env.reset(seed=0)  # builds the model (about 2 s) in OGBench's pixel colours
        # From now on OGBench's resets compute its state observation, not a frame of its own renderer
        # (~200 ms each, and a second GL context), which is closed here.
        self.env._ob_type = "states"
        if getattr(self.env, "_renderer", None) is not None:
            close_in_own_context(self.env._renderer)
            self.env._renderer = None
        self.model = self.env._model
        self.model.light_castshadow[:] = 0  # the module docstring's cheaper frame
        self.model.mat_reflectance[:] = 0.0
        self.model.vis.quality.offsamples = 0
        self.renderer = self.mujoco.Renderer(self.model, self.size, self.size)
        # Closed when the scene goes or, for a scene still alive at exit, before MuJoCo's exit hook terminates
        # EGL (registered with the first renderer; exit hooks run last-registered first), so that no EGL
        # error is printed after a run's last line.
        self._close = weakref.finalize(self, close_in_own_context, self.renderer)
        atexit.register(self._close)
        self.users = 0

    def attach(self, data) -> None:
        """Point OGBench's environment at the physics ``data`` of one copy."""
        self.env._data = data

    def release(self) -> None:
        """One copy is done with the scene; the last one frees the renderer of an owned scene
        (:func:`close_in_own_context`)."""
        self.users -= 1
        if self.users <= 0 and self.owned:
            self._close()


class CubeScenes:
    """Builds cube adapters that share one :class:`CubeScene` per frame size (the ``make`` of the
    environment catalogue: each catalogue entry has its own, so nothing is shared between jobs)."""

    def __init__(self) -> None:
        self._scenes: dict[int, CubeScene] = {}

    def __call__(self, size: int = 64) -> "CubePixels":
        if size not in self._scenes:
            self._scenes[size] = CubeScene(size, owned=False)
        return CubePixels(size, self._scenes[size])


class CubePixels(PixelEnv):
    """OGBench ``cube-single`` with ``(3, size, size)`` RGB observations from its ``front_pixels`` camera.

    Args:
        size: side of the observation in pixels (drawn at that size: OGBench's visual tasks use 64).
        scene: the scene to share (:class:`CubeScenes` passes one); None builds one of its own.
    """

    def __init__(self, size: int = 64, scene: CubeScene | None = None) -> None:
        self.size = check_size(size)
        self.scene = scene if scene is not None else CubeScene(self.size)
        if self.scene.size != self.size:
            raise InputError(f"a {self.size}-px cube adapter cannot share a {self.scene.size}-px scene")
        self.scene.users += 1
        self.mujoco, self.env, self.model = self.scene.mujoco, self.scene.env, self.scene.model
        self.data = self.mujoco.MjData(self.model)
        self.spec = PixelSpec("cube", "ogbench/cube-single", (3, self.size, self.size), (-1.0,) * 5, (1.0,) * 5,
                              STATE_NAMES, 1.0 / self.env._control_timestep)
        self._started = False

    def reset(self, seed: int) -> np.ndarray:
        self.scene.attach(self.data)
        self.env.reset(seed=int(seed))  # arm pose and cube pose from OGBench's sampling bounds
        self._settle()
        self._started = True
        return self.render_obs()

    def step(self, action: np.ndarray) -> np.ndarray:
        if not self._started:
            raise RuntimeError("CubePixels: call reset() or set_state() before step()")
        self.scene.attach(self.data)
        self.env.set_control(self.clip_action(action))  # inverse kinematics -> joint targets
        self.env.pre_step()
        self.mujoco.mj_step(self.model, self.data, nstep=self.env._n_steps)
        self.mujoco.mj_forward(self.model, self.data)  # positions of the new state, as set_state leaves them
        self._settle()
        return self.render_obs()

    def _settle(self) -> None:
        self.mujoco.mj_rnePostConstraint(self.model, self.data)  # contact forces, for the contact readout
        self.env.post_step()

    def get_state(self) -> np.ndarray:
        self.scene.attach(self.data)
        info = self.env.compute_ob_info()
        readouts = np.concatenate([
            info["privileged/block_0_pos"], info["privileged/block_0_quat"], info["proprio/effector_pos"],
            info["proprio/effector_yaw"], info["proprio/gripper_opening"], info["proprio/gripper_contact"],
        ])
        return np.concatenate([readouts, self.data.qpos, self.data.qvel]).astype(np.float64)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        state = self.check_state(state)
        self.mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = state[PHYSICS : PHYSICS + NQ]
        self.data.qvel[:] = state[PHYSICS + NQ :]
        self.mujoco.mj_forward(self.model, self.data)
        self.scene.attach(self.data)
        self._settle()
        self._started = True
        return self.render_obs()

    def render_obs(self) -> np.ndarray:
        renderer = self.scene.renderer
        renderer.update_scene(self.data, camera=CAMERA)
        flags = renderer.scene.flags
        flags[self.mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        flags[self.mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        return to_chw_uint8(np.ascontiguousarray(renderer.render()), self.size)

    def close(self) -> None:
        if self.scene is not None:
            self.scene.release()
            self.scene = None
