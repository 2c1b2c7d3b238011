"""PushT (``gym-pusht``) from pixels: push a T-shaped block onto a target pose with a round agent.

The upstream environment's action is the *absolute* target of the agent's PD controller in
``[0, 512]^2``. The adapter's action is the target *relative* to the agent, ``(dx, dy)`` in
``[-max_step, max_step]^2`` (the upstream target is ``clip(agent + (dx, dy), 0, 512)``), as
DINO-WM trains on relative PushT actions: the same action then means the same move anywhere.

State (S = 10): agent ``(x, y)``, block ``(x, y, angle)``, agent velocity ``(vx, vy)`` — the
seven entries of DINO-WM's PushT state, in its order — then the block's velocity ``(vx, vy)`` and
angular velocity, so that ``set_state(get_state())`` restores the simulation exactly.

Success (DINO-WM's ``eval_state``): the L2 distance between the current and goal
``(agent x, agent y, block x, block y)`` is below 20 and the wrapped block-angle difference is
below pi/9 (20 degrees).

:class:`PushTSimulator` steps the same physics without rendering, from given states, one rollout
after the other (pymunk has no batched stepping): about 0.1 ms per environment step on one core.
"""

from __future__ import annotations

import numpy as np

from hjepa.envs.adapters.base import PixelEnv, PixelSpec, check_rollout_inputs, check_size, to_chw_uint8, wrap_angle
from hjepa.envs.adapters.extras import require
from hjepa.errors import InputError

STATE_NAMES = (
    "agent_x", "agent_y", "block_x", "block_y", "block_angle", "agent_vx", "agent_vy",
    "block_vx", "block_vy", "block_omega",
)
POSITION_THRESHOLD = 20.0
"""DINO-WM: ``||(agent, block) position difference|| < 20`` (upstream units, the board is 512)."""
ANGLE_THRESHOLD = np.pi / 9
"""DINO-WM: wrapped block-angle difference below 20 degrees."""


def pusht_success(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """DINO-WM's PushT success test: states, goals ``(N, S)`` -> ``(N,)`` bool."""
    position = np.linalg.norm(states[..., :4] - goals[..., :4], axis=-1)
    angle = np.abs(wrap_angle(states[..., 4] - goals[..., 4]))
    return (position < POSITION_THRESHOLD) & (angle < ANGLE_THRESHOLD)


def pusht_distances(states: np.ndarray, goals: np.ndarray) -> dict[str, np.ndarray]:
    """Named distances to the goal, each ``(N,)``: the two quantities of the success test and
    the agent's and block's position errors alone."""
    return {
        "position": np.linalg.norm(states[..., :4] - goals[..., :4], axis=-1),
        "angle_deg": np.degrees(np.abs(wrap_angle(states[..., 4] - goals[..., 4]))),
        "agent": np.linalg.norm(states[..., :2] - goals[..., :2], axis=-1),
        "block": np.linalg.norm(states[..., 2:4] - goals[..., 2:4], axis=-1),
    }


ANGLE_SCALE = POSITION_THRESHOLD / ANGLE_THRESHOLD
"""Length (upstream units) that one radian of block angle counts as in :func:`pusht_pose_features`:
20 degrees off costs as much as 20 units off, the two thresholds of the success test."""


def pusht_pose_features(states: np.ndarray) -> np.ndarray:
    """The pose the success test compares, as a vector whose Euclidean distance is the goal distance
    the true-simulator planner minimises: agent and block positions (the test's ``position``) and the
    block angle as ``ANGLE_SCALE * (cos, sin)`` (chord ~ ``ANGLE_SCALE`` x the wrapped angle
    difference, without the wrap's jump), ``(..., S) -> (..., 6)``."""
    angle = states[..., 4]
    return np.concatenate([states[..., :4], ANGLE_SCALE * np.stack([np.cos(angle), np.sin(angle)], axis=-1)], axis=-1)


def pusht_probe_targets(states: np.ndarray) -> np.ndarray:
    """The block's position, ``(N, S) -> (N, 2)``: what the world-model diagnostics probe for
    (the hard part of PushT's state; the agent's position is easy to see)."""
    return states[..., 2:4]


def pusht_proprio(states: np.ndarray) -> np.ndarray:
    """What the agent knows of itself, DINO-WM's PushT proprioception: its position (board / 512) and
    velocity (/ 100), ``(N, S) -> (N, 4)``."""
    return np.concatenate([states[..., 0:2] / 512.0, states[..., 5:7] / 100.0], axis=-1)


def read_state(env) -> np.ndarray:
    """The state ``(S,)`` of an upstream ``PushTEnv``."""
    agent, block = env.agent, env.block
    return np.array([
        *agent.position, *block.position, float(wrap_angle(block.angle)), *agent.velocity,
        *block.velocity, block.angular_velocity,
    ], dtype=np.float64)


def write_state(env, state: np.ndarray) -> None:
    """Put an upstream ``PushTEnv`` in ``state (S,)``."""
    agent, block = env.agent, env.block
    agent.position = (state[0], state[1])
    agent.velocity = (state[5], state[6])
    # The body's own fields, exactly those read_state reads (upstream's reset_to_state instead
    # steps the physics once after setting them, which moves the block).
    block.angle = state[4]
    block.position = (state[2], state[3])
    block.velocity = (state[7], state[8])
    block.angular_velocity = state[9]
    env.space.reindex_shapes_for_body(block)
    env.space.reindex_shapes_for_body(agent)


class PushTPixels(PixelEnv):
    """PushT with ``(3, size, size)`` RGB observations and relative actions.

    Args:
        size: side of the observation in pixels (DINO-WM: 224 resized; the issue: 64 or 96).
        max_step: bound of the relative action per axis (upstream units per step, board 512).
    """

    def __init__(self, size: int = 64, max_step: float = 40.0) -> None:
        module = require("gym_pusht.envs.pusht", "gym-pusht", "the PushT adapter")
        if not max_step > 0:
            raise InputError(f"max_step must be > 0, got {max_step}")
        self.size = check_size(size)
        self.max_step = float(max_step)
        self.env = module.PushTEnv(
            obs_type="pixels", render_mode="rgb_array", observation_width=self.size, observation_height=self.size
        )
        self.spec = PixelSpec(
            "pusht", "gym_pusht/PushT-v0", (3, self.size, self.size), (-self.max_step,) * 2, (self.max_step,) * 2,
            STATE_NAMES, float(self.env.metadata["render_fps"]),
        )
        self._started = False

    def reset(self, seed: int) -> np.ndarray:
        self.env.reset(seed=int(seed))
        self._started = True
        return self.render_obs()

    def step(self, action: np.ndarray) -> np.ndarray:
        if not self._started:
            raise RuntimeError("PushTPixels: call reset() or set_state() before step()")
        delta = self.clip_action(action)
        target = np.clip(np.asarray(self.env.agent.position) + delta, 0.0, 512.0)
        obs, *_ = self.env.step(target)
        return to_chw_uint8(obs, self.size)

    def get_state(self) -> np.ndarray:
        return read_state(self.env)

    def set_state(self, state: np.ndarray) -> np.ndarray:
        state = self.check_state(state)
        if not self._started:
            self.env.reset(seed=0)
            self._started = True
        write_state(self.env, state)
        return self.render_obs()

    def render_obs(self) -> np.ndarray:
        return to_chw_uint8(self.env.get_obs(), self.size)

    def close(self) -> None:
        self.env.close()


class PushTSimulator:
    """PushT's physics without rendering (a :class:`~hjepa.envs.adapters.base.Simulator`).

    ``simulate(states (N, S), actions (N, T, 2)) -> (N, T, S)`` with the adapter's relative actions
    (clipped to ``max_step``). Each row starts in a fresh space, as a new :class:`PushTPixels`
    put in the state by ``set_state`` would: pymunk carries contact impulses from step to step
    (warm starting its solver) that the state does not hold, so a space used before would step the
    same state slightly differently. One environment step is upstream's: ``control_hz`` PD-control
    steps of the agent toward the absolute target, without the coverage and observation upstream
    also computes.

    Args:
        max_step: bound of the relative action per axis (the adapter's).
    """

    def __init__(self, max_step: float = 40.0) -> None:
        module = require("gym_pusht.envs.pusht", "gym-pusht", "the PushT simulator")
        self.vec2d = require("pymunk", "pymunk", "the PushT simulator").Vec2d
        if not max_step > 0:
            raise InputError(f"max_step must be > 0, got {max_step}")
        self.max_step = float(max_step)
        self.env = module.PushTEnv(obs_type="state")  # never renders

    def simulate(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """States ``(N, S)``, relative actions ``(N, T, 2)`` -> the states after each step ``(N, T, S)``."""
        low, high = (-self.max_step,) * 2, (self.max_step,) * 2
        states, actions = check_rollout_inputs("pusht", states, actions, len(STATE_NAMES), low, high)
        env = self.env
        substeps = int(1 / (env.dt * env.control_hz))
        out = np.empty((*actions.shape[:2], len(STATE_NAMES)))
        for i, state in enumerate(states):
            env.reset(seed=0)  # a fresh space (class docstring), as PushTPixels.set_state's first call
            write_state(env, state)
            for t, delta in enumerate(actions[i]):
                target = np.clip(np.asarray(env.agent.position) + delta, 0.0, 512.0)
                for _ in range(substeps):  # upstream PushTEnv.step's physics, term for term
                    acceleration = env.k_p * (target - env.agent.position) + env.k_v * (self.vec2d(0, 0) - env.agent.velocity)
                    env.agent.velocity += acceleration * env.dt
                    env.space.step(env.dt)
                out[i, t] = read_state(env)
        return out

    def close(self) -> None:
        self.env.close()
