"""MPC on the true Two Rooms or maze simulator: the ceiling of a planner and cost."""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.control.dynamics import simulator_dynamics
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.protocol import ControllerOutput
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.envs.tasks import Tasks
from hjepa.planning.base import rollout


class SimulatorMPC:
    """MPC on the true simulator: state = position, cost = distance to the goal position.

    The cost is :class:`~hjepa.cost.intrinsic.IntrinsicCost` with ``reduce_min=True`` (closest
    approach over the horizon, so plans may go around the wall). ``squared=False`` (plain pixel
    distance) keeps costs in a range where a sampling planner's temperature of order 1 is meaningful.
    """

    def __init__(self, env, mpc: ModelPredictiveController, squared: bool = False) -> None:
        self.env = env
        self.mpc = mpc
        self.action_repeat = mpc.action_repeat
        self.squared = squared
        self._tasks: Tasks | None = None

    def reset(self, tasks: Tasks) -> None:
        self._tasks = tasks
        self.mpc.reset(len(tasks))

    def act(self, obs: Tensor, rows: Tensor) -> ControllerOutput:
        """``obs (N, 2)`` positions; plans for the running ``rows``."""
        if self._tasks is None:
            raise ValueError("SimulatorMPC.act called before reset(tasks)")
        pos = obs[rows]
        cost = IntrinsicCost(self._tasks.goal[rows], squared=self.squared, reduce_min=True)
        dynamics = simulator_dynamics(self.env, self._tasks.layout.index(rows), self.action_repeat)
        with torch.no_grad():
            action, plan = self.mpc.act(pos, dynamics, cost, rows=rows)
            path = rollout(pos, plan.actions.unsqueeze(1), dynamics)[:, 0]  # (M, H+1, 2)
        return ControllerOutput(action, path)
