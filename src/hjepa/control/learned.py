"""MPC in the representation space of a JEPA world model, from rendered observations (Two Rooms
and the maze)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from hjepa.control.dynamics import clip_norm, learned_dynamics
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.perception import PixelPerception
from hjepa.control.protocol import ControllerOutput
from hjepa.control.unstick import Unstick
from hjepa.envs.tasks import Tasks
from hjepa.planning.base import TrajectoryCost, rollout
from hjepa.world.model import JEPAWorldModel


class LearnedMPC:
    """Encode the observation, plan in representation space, execute the first action, re-plan.

    The controller receives true positions only so that it can render its own observation; it never
    looks at them otherwise.

    Args:
        env: renders observations ``(N, 2, 64, 64)`` from positions and layouts.
        model: the world model (put it in eval mode first); its predictor takes macro actions of
            ``2 * mpc.action_repeat`` dims.
        mpc: the receding-horizon controller (planner, horizon, action_repeat).
        cost_factory: ``goal_states (M, D) -> TrajectoryCost`` (e.g. an IntrinsicCost's ``with_goal``).
        position_decoder: ``states (M, D) -> positions (M, 2)`` (e.g. a linear probe's
            ``predict``), to draw the planned path; None = no planned path.
        max_action_norm: clip held actions to this L2 norm inside the model (default: the
            environment's ``max_step``, as the simulator does). Keep it within the range of the
            training data's actions: the model never saw longer steps.
        bf16: run the predictor under CPU bfloat16 autocast while planning.
        unstick: when an action predicted to move the agent did not, take a random one instead
            (:mod:`hjepa.control.unstick`); None: never.
    """

    def __init__(
        self,
        env,
        model: JEPAWorldModel,
        mpc: ModelPredictiveController,
        cost_factory: Callable[[Tensor], TrajectoryCost],
        position_decoder: Callable[[Tensor], Tensor] | None = None,
        max_action_norm: float | None = None,
        bf16: bool = False,
        unstick: Unstick | None = None,
    ) -> None:
        self.perception = PixelPerception(env, model)
        self.mpc = mpc
        self.action_repeat = mpc.action_repeat
        self.cost_factory = cost_factory
        self.position_decoder = position_decoder
        max_norm = env.config.max_step if max_action_norm is None else min(max_action_norm, env.config.max_step)
        self._max_norm = max_norm
        self._dynamics = learned_dynamics(model, mpc.action_repeat, max_norm, bf16=bf16)
        self._tasks: Tasks | None = None
        self.unstick = unstick

    def reset(self, tasks: Tasks) -> None:
        self._tasks = tasks
        self._goal_states = self.perception(tasks.goal, tasks.layout)  # (N, D), rendered once per task
        self.mpc.reset(len(tasks))
        if self.unstick is not None:
            self.unstick.reset(len(tasks))

    def act(self, obs: Tensor, rows: Tensor) -> ControllerOutput:
        """``obs (N, 2)`` positions; plans for the running ``rows``."""
        if self._tasks is None:
            raise ValueError("LearnedMPC.act called before reset(tasks)")
        pos = obs[rows]
        cost = self.cost_factory(self._goal_states[rows.to(self._goal_states.device)])
        with torch.no_grad():
            state = self.perception(pos, self._tasks.layout.index(rows))  # (M, D)
            stuck = None
            if self.unstick is not None:
                stuck = self.unstick.stuck(rows, state)
                if stuck.any():
                    self.mpc.forget(rows[stuck])  # plan afresh, not the same push
            action, plan = self.mpc.act(state, self._dynamics, cost, rows=rows)
            if self.unstick is not None:
                action = self.unstick.kick(clip_norm(action, self._max_norm), stuck)
                self.unstick.remember(rows, state, self._dynamics(state.unsqueeze(1), action.unsqueeze(1))[:, 0])
            path = None
            if self.position_decoder is not None:
                states = rollout(state, plan.actions.unsqueeze(1), self._dynamics)[:, 0]
                flat = self.position_decoder(states.reshape(-1, states.shape[-1]))
                path = flat.reshape(*states.shape[:2], 2).to(pos)
        # Execute exactly the action the model imagined (clipped as inside the model).
        return ControllerOutput(clip_norm(action, self._max_norm).to(pos), path)
