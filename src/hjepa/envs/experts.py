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
- :class:`CubeExpert`: picks OGBench's cube up and puts it down at random places on the table, a
  new place when it is put down there or after ``patience`` steps (pick-and-place "play", the kind
  of data OGBench's own cube datasets hold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hjepa.envs.adapters.cube import CONTACT, CUBE, OPENING, PINCH, YAW, cube_yaw
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


TABLE = ((0.3, -0.3), (0.55, 0.3))
"""Where the cube expert puts the cube down: ``(low, high)`` of ``(x, y)`` on the table, m (OGBench's
sampling bounds of cube positions)."""


@dataclass
class CubeExpert:
    """Pick-and-place of OGBench's cube (hjepa.envs.adapters.cube) to random places on the table.

    Each step it reads the cube's and the gripper's true poses and acts by the first case that holds:
    the cube lies at the place (open, rise, and take a new place once up); the cube is held (lift it,
    carry it above the place, lower it, open); the gripper has closed on nothing (open and rise);
    otherwise it goes above the cube, turned to the cube's nearest face, then down, and closes.

    Args:
        reach: error in metres that asks for full speed (the box's 1 is 5 cm per step).
        carry_height: height of the pinch point while carrying and approaching, m.
        patience: steps after which a place is replaced even if the cube never got there.
        noise: std of the Gaussian added to each action (the box is [-1, 1]).

    ``placed`` counts the cubes put down at their place since ``reset``.
    """

    reach: float = 0.03
    carry_height: float = 0.12
    patience: int = 80
    noise: float = 0.1

    def __post_init__(self) -> None:
        if self.reach <= 0 or self.carry_height <= 0.05 or self.patience < 1 or self.noise < 0:
            raise InputError("CubeExpert needs reach > 0, carry_height > 0.05, patience >= 1 and noise >= 0")

    def reset(self, n: int, rng: np.random.Generator) -> None:
        self._places = rng.uniform(TABLE[0], TABLE[1], (n, 2))
        self._age = np.zeros(n, dtype=np.int64)
        self.placed = 0

    def act(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``states (N, 54)`` cube-scene states -> actions ``(N, 5)``."""
        cube, pinch, yaw = states[:, CUBE], states[:, PINCH], states[:, YAW]
        opening, contact = states[:, OPENING], states[:, CONTACT]
        turn = (cube_yaw(states) - yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4  # to the nearest face (a quarter turn is symmetric)

        at_place = (np.linalg.norm(cube[:, :2] - self._places, axis=1) < 0.02) & (cube[:, 2] < 0.03)
        held = (contact > 0.5) & (np.linalg.norm(cube - pinch, axis=1) < 0.03)
        missed = ~held & (opening > 0.8)
        above = np.linalg.norm(cube[:, :2] - pinch[:, :2], axis=1) < 0.012
        up = pinch[:, 2] > self.carry_height - 0.02
        renew = (at_place & ~held & up) | (self._age >= self.patience)
        self.placed += int((at_place & ~held & up).sum())
        if renew.any():
            rows = np.nonzero(renew)[0]
            self._places[rows] = rng.uniform(TABLE[0], TABLE[1], (len(rows), 2))
            self._age[rows] = 0
        self._age += 1

        over_cube = np.concatenate([cube[:, :2], np.full((len(cube), 1), self.carry_height)], axis=1)
        over_place = np.concatenate([self._places, np.full((len(cube), 1), self.carry_height)], axis=1)
        on_place = np.concatenate([self._places, np.full((len(cube), 1), 0.02)], axis=1)
        carried = np.where((np.linalg.norm(cube[:, :2] - self._places, axis=1) < 0.015)[:, None], on_place,
                           np.where((cube[:, 2] > self.carry_height - 0.04)[:, None], over_place, over_cube))
        rise = np.concatenate([pinch[:, :2], np.full((len(cube), 1), self.carry_height + 0.03)], axis=1)
        target = np.where(held[:, None], carried, np.where(above[:, None], cube, over_cube))
        target = np.where((missed | at_place)[:, None], rise, target)
        grip = np.where(held, 1.0, np.where(above & (np.abs(pinch[:, 2] - cube[:, 2]) < 0.01), 1.0, -1.0))
        grip = np.where(missed | at_place | (held & (cube[:, 2] < 0.03) & (carried[:, 2] < 0.03)), -1.0, grip)

        action = np.concatenate([(target - pinch) / self.reach, (turn / 0.3)[:, None], grip[:, None]], axis=1)
        action[:, 3] = np.where(held, 0.0, action[:, 3])
        return np.clip(action + rng.normal(0.0, self.noise, action.shape), -1.0, 1.0)

    def describe(self) -> dict:
        return _privileged("cube_expert_pick_and_place",
                           {k: getattr(self, k) for k in ("reach", "carry_height", "patience", "noise")})
