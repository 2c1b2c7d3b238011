"""Expert trajectories from privileged controllers: policies that read the simulator's true state.

The field evaluates world models on tasks cut from expert trajectories (start at a state of the
trajectory, goal its state 25 steps later). The peers' expert datasets cannot be downloaded here,
so these controllers make ours: they see the true state (joint angles, the block's pose), which
the world model never does, and are labelled as such in the dataset's metadata. They act like the
exploration policies (``reset(n, rng)``, ``act(states, rng) -> actions``), so
:func:`hjepa.envs.exploration_gym.collect_pixel_episodes` records their episodes.

- :class:`ReacherExpert`: a PD controller on the joint angles toward a target arm pose, a new one
  when it is reached or after ``patience`` steps; the pose is drawn so that the fingertip lands
  anywhere in the arm's reach.
- :class:`PushTExpert`: walks (around the block where needed) to the contact point behind the
  T-block on the line from the goal pose's position through the block, then pushes. It is a
  *pusher*, not a solver: its pushes move the block in most 25-step windows (median 44 px on the
  512 board), but a centre push turns the T, and the block ends no nearer the goal on average
  (mean distance 129 -> 135 px over 100 steps, 20 episodes). Its trajectories give purposeful
  start/goal pairs for the evaluation protocol; they are not demonstrations of solving PushT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hjepa.errors import InputError

PUSHT_GOAL = (256.0, 256.0)
"""gym-pusht's goal position of the T-block (upstream units, the board is 512 wide)."""


def _privileged(policy: str, params: dict) -> dict:
    return {"name": policy, "privileged": "reads the true simulator state (expert data, not exploration)",
            "params": params}


@dataclass
class ReacherExpert:
    """PD control of the reacher's two joints toward random target poses.

    Args:
        kp, kd: proportional and derivative gains (torque per radian, per radian/s).
        patience: steps after which a target pose is replaced even if not reached.
        noise: std of Gaussian torque noise (the box is [-1, 1]).

    ``reached`` counts the target poses reached (every joint within 0.1 rad) since ``reset``.
    """

    kp: float = 2.0
    kd: float = 0.3
    patience: int = 40
    noise: float = 0.05

    def __post_init__(self) -> None:
        if self.kp <= 0 or self.kd < 0 or self.patience < 1 or self.noise < 0:
            raise InputError("ReacherExpert needs kp > 0, kd >= 0, patience >= 1 and noise >= 0")

    def reset(self, n: int, rng: np.random.Generator) -> None:
        self._targets = np.full((n, 2), np.nan)
        self._age = np.zeros(n, dtype=np.int64)
        self.reached = 0

    def act(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``states (N, 6)`` reacher states -> torques ``(N, 2)``."""
        angles, velocities = states[:, :2], states[:, 2:4]
        error = np.angle(np.exp(1j * (self._targets - angles)))  # wrapped, NaN where no target yet
        done = ~np.isfinite(error).all(1) | (np.abs(error).max(1) < 0.1) | (self._age >= self.patience)
        self.reached += int((np.abs(np.nan_to_num(error, nan=np.inf)).max(1) < 0.1).sum())
        if done.any():
            rows = np.nonzero(done)[0]
            self._targets[rows] = np.stack([rng.uniform(-np.pi, np.pi, len(rows)),
                                            rng.uniform(-2.5, 2.5, len(rows))], axis=1)  # the wrist stops at 2.8
            self._age[rows] = 0
            error = np.angle(np.exp(1j * (self._targets - angles)))
        self._age += 1
        torque = self.kp * error - self.kd * velocities + rng.normal(0.0, self.noise, angles.shape)
        return np.clip(torque, -1.0, 1.0)

    def describe(self) -> dict:
        return _privileged("reacher_expert_pd", {k: getattr(self, k) for k in ("kp", "kd", "patience", "noise")})


@dataclass
class PushTExpert:
    """Pushes the T-block along the line toward the goal pose's position (see the module notes).

    Args:
        max_step: bound of the relative action per axis (the adapter's ``max_step``).
        standoff: distance behind the block's centre the agent lines up at before pushing.
        clearance: distance from the block's centre kept while walking around it.
        noise: std of the Gaussian added to each action, as a fraction of ``max_step``.
    """

    max_step: float = 40.0
    standoff: float = 70.0
    clearance: float = 110.0
    noise: float = 0.1

    def __post_init__(self) -> None:
        if self.max_step <= 0 or self.standoff <= 0 or self.noise < 0:
            raise InputError("PushTExpert needs max_step > 0, standoff > 0 and noise >= 0")

    def reset(self, n: int, rng: np.random.Generator) -> None:
        pass

    def act(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``states (N, 10)`` PushT states -> relative actions ``(N, 2)``."""
        agent, block = states[:, :2], states[:, 2:4]
        to_goal = np.asarray(PUSHT_GOAL) - block
        direction = to_goal / np.linalg.norm(to_goal, axis=1, keepdims=True).clip(1e-6)
        side = np.stack([-direction[:, 1], direction[:, 0]], axis=1)  # perpendicular
        contact = block - direction * self.standoff  # behind the block, seen from the goal
        rel = agent - block
        along, across = (rel * direction).sum(1), (rel * side).sum(1)
        lined_up = np.linalg.norm(agent - contact, axis=1) < 25.0
        # On the goal's side of the block: walk around it (to a point beside it) instead of through it.
        detour = (along > -0.5 * self.standoff) & ~lined_up
        around = block + np.where(across >= 0, 1.0, -1.0)[:, None] * side * self.clearance - direction * 0.5 * self.standoff
        target = np.where(lined_up[:, None], block + direction * 40.0, np.where(detour[:, None], around, contact))
        action = target - agent + rng.normal(0.0, self.noise * self.max_step, agent.shape)
        return np.clip(action, -self.max_step, self.max_step)

    def describe(self) -> dict:
        return _privileged("pusht_expert_push_to_goal", {k: getattr(self, k) for k in ("max_step", "standoff", "clearance", "noise")})
