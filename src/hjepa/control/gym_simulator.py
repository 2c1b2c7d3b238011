"""The pixel environments' "same planner on the true simulator" baseline: the learned controller's
MPC and planner, with the environment's own dynamics (``hjepa.envs.adapters``' simulators) and a
cost on true states in place of the world model and its representation.

It separates the two ways the learned controller can fail: where it fails but this succeeds, the
world model (or its representation's distances) is to blame; where both fail, the planner, its
budget or the horizon are. It is privileged: it reads the world's true state at every decision.

The simulator rolls a whole candidate plan out at once, inside the cost: the planner's dynamics
leave the state as it is, and the cost simulates ``actions`` from ``states[:, :, 0]``. One call
per planner iteration runs every candidate of every episode, and the simulators carry what their
states do not hold from step to step of a plan (MuJoCo's solver warm start, pymunk's contact
impulses), as the environment does.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.protocol import ControllerOutput
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.envs.adapters.base import Simulator
from hjepa.envs.tasks import Tasks
from hjepa.planning.base import TrajectoryCost


def unchanged(state: Tensor, action: Tensor) -> Tensor:
    """Planner dynamics that keep ``state (B, S, D)``: the cost does the simulating."""
    return state


class SimulatorRolloutCost:
    """``cost(states (B, S, T+1, D), actions (B, S, T, P)) -> (B, S)``: simulate each candidate's
    raw actions from its start ``states[:, :, 0]`` and price the states after each planner step
    with ``cost`` on their goal features.

    Args:
        simulator: the environment's batched dynamics.
        features: ``states (..., D) -> (..., F)``.
        cost: an :class:`~hjepa.cost.intrinsic.IntrinsicCost` with the goals' features ``(B, F)``.
        to_raw: plan actions ``(R, T, P)`` -> environment actions ``(R, T, k, A)``.
    """

    def __init__(
        self, simulator: Simulator, features: Callable[[np.ndarray], np.ndarray], cost: IntrinsicCost, to_raw: Callable[[np.ndarray], np.ndarray]
    ) -> None:
        self.simulator, self.features, self.cost, self.to_raw = simulator, features, cost, to_raw

    def __call__(self, states: Tensor, actions: Tensor) -> Tensor:
        b, s, horizon, p = actions.shape
        start = states[:, :, 0].reshape(b * s, -1).cpu().double().numpy()  # (R, D)
        raw = self.to_raw(actions.reshape(b * s, horizon, p).cpu().double().numpy())  # (R, T, k, A)
        k = raw.shape[2]
        path = self.simulator.simulate(start, raw.reshape(b * s, horizon * k, -1))[:, k - 1 :: k]  # (R, T, D)
        trajectory = np.concatenate([start[:, None], path], axis=1).reshape(b, s, horizon + 1, -1)
        return self.cost(torch.from_numpy(self.features(trajectory)).to(actions), actions)


class TrueSimulatorMPC:
    """MPC on the true simulator of a pixel environment (module docstring).

    Args:
        simulator: the environment's batched dynamics (closed by the caller).
        features: ``states (..., S) -> (..., F)`` the goal distance is measured on.
        true_state: ``() -> (N, S)``, the world's current true states (the privilege).
        mpc: the planner, horizon and warm start; its ``action_repeat`` is the frameskip.
        cost: ``IntrinsicCost`` without a goal (squared, closest approach or last step), as the
            learned controller's; each episode gets its goal's features.
        action_scale: ``(A,)`` plan actions are raw actions divided by this (the learned model's).
        hold: a plan action is one scaled action held for ``frameskip`` steps (else the whole
            macro action, ``frameskip * A`` numbers).
    """

    def __init__(
        self,
        simulator: Simulator,
        features: Callable[[np.ndarray], np.ndarray],
        true_state: Callable[[], Tensor],
        mpc: ModelPredictiveController,
        cost: IntrinsicCost,
        action_scale: np.ndarray,
        hold: bool,
    ) -> None:
        self.simulator, self.features, self.true_state = simulator, features, true_state
        self.mpc, self.base_cost = mpc, cost
        self.scale = np.asarray(action_scale, dtype=np.float64)
        self.frameskip = self.action_repeat = mpc.action_repeat
        self.hold = hold
        self._goal: Tensor | None = None

    def to_raw(self, actions: np.ndarray) -> np.ndarray:
        """Plan actions ``(..., P)`` -> raw environment actions ``(..., frameskip, A)``."""
        if self.hold:
            return np.repeat(actions[..., None, :], self.frameskip, axis=-2) * self.scale
        return actions.reshape(*actions.shape[:-1], self.frameskip, -1) * self.scale

    def reset(self, tasks: Tasks) -> None:
        self._goal = torch.from_numpy(np.asarray(self.features(tasks.goal.double().numpy()), dtype=np.float64))
        self.mpc.reset(len(tasks))

    def cost(self, rows: Tensor) -> TrajectoryCost:
        """The rollout cost toward the goals of episodes ``rows (M,)``."""
        if self._goal is None:
            raise ValueError("TrueSimulatorMPC.act called before reset(tasks)")
        return SimulatorRolloutCost(self.simulator, self.features, self.base_cost.with_goal(self._goal[rows]), self.to_raw)

    def act(self, obs, rows: Tensor) -> ControllerOutput:
        """Plans from the true states of ``rows (M,)`` (``obs``, the frames, is not looked at);
        returns raw actions ``(M, frameskip, A)`` for the next planner step."""
        state = self.true_state()[rows].double()  # (M, S)
        action, _ = self.mpc.act(state, unchanged, self.cost(rows), rows=rows)
        return ControllerOutput(self.to_raw(action.cpu().double().numpy()))
