"""Two-level model-predictive control from stacked pixel frames (the pixel environments: PushT, ...).

:class:`HierarchicalLatentMPC` is :class:`~hjepa.control.latent.LatentMPC` with a level 2 above it
(HWM's scheme, issue 19): level 2 (:class:`~hjepa.world.hierarchy.HighLevelModel`) searches latent
macro-actions, each standing for ``k`` planner steps, from the abstract state of the current
observation toward the goal's; its first predicted abstract state is the subgoal; level 1 plans
planner-step actions with the world model toward that subgoal, or toward the goal itself once level
2 finds it within reach (:class:`~hjepa.planning.hierarchical.HierarchicalPlanner`).
"""

from __future__ import annotations

import numpy as np
import torch

from hjepa.control.latent import encode_observation, latent_dynamics, stacked
from hjepa.control.protocol import ControllerOutput
from hjepa.control.worlds import PixelObservation
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError
from hjepa.planning.hierarchical import HierarchicalPlanner, HierarchyState, TwoLevelProblem
from hjepa.planning.latent import deterministic_cost, fixed_z_step
from hjepa.world.hierarchy import HighLevelModel
from hjepa.world.model import JEPAWorldModel


def subgoal_and_goal(goal_weight: float):
    """Level 1's cost (a ``TwoLevelProblem.toward``): the closest approach of its abstract states
    ``(B, S, T, D2)`` to the subgoal ``(B, D2)`` plus ``goal_weight`` times that to the goal's ``(B, D2)``,
    ``-> (B, S)``."""

    def toward(subgoal: torch.Tensor, goal2: torch.Tensor):
        def cost(states: torch.Tensor) -> torch.Tensor:
            to_subgoal = (states - subgoal[:, None, None]).pow(2).sum(-1).min(-1).values
            to_goal = (states - goal2[:, None, None]).pow(2).sum(-1).min(-1).values
            return to_subgoal + goal_weight * to_goal

        return cost

    return toward


class HierarchicalLatentMPC:
    """Hierarchical receding-horizon control in representation space.

    Args:
        model: the level-1 world model, in eval mode; plans whole macro actions ``(frameskip * A,)``.
        high: level 2 on top of it (eval mode, no latent z), built for the model's states and actions.
        planner: the two planners, their horizons and replanning rates.
        action_scale: ``(A,)`` the world model's actions are raw actions divided by this.
        frameskip: environment steps per planner step.
        generator: randomness of both planners.
        proprio: ``states (N, S) -> (N, P)`` when the model sees proprioception (see ``LatentMPC``).
        goal_weight: level 1's cost adds this times the closest approach to the goal's abstract state
            to the closest approach to the subgoal (0: the subgoal alone, HWM's).
    """

    def __init__(self, model: JEPAWorldModel, high: HighLevelModel, planner: HierarchicalPlanner, action_scale: np.ndarray,
                 frameskip: int, generator: torch.Generator, proprio=None, goal_weight: float = 0.0) -> None:
        self.scale = np.asarray(action_scale, dtype=np.float64)
        if high.low_state_dim != model.state_dim or high.low_action_dim != model.action_dim:
            raise InputError(f"level 2 was built for level-1 states of {high.low_state_dim} and actions of "
                             f"{high.low_action_dim}; the model has {model.state_dim} and {model.action_dim}")
        if model.action_dim != frameskip * len(self.scale):
            raise InputError(f"the model takes {model.action_dim} action numbers per step, not frameskip x A = "
                             f"{frameskip} x {len(self.scale)}")
        if not goal_weight >= 0:
            raise InputError(f"goal_weight must be >= 0, got {goal_weight}")
        if high.latent_dim:
            raise InputError("HierarchicalLatentMPC plans level 2 without a latent z; got a level 2 with one")
        self.model, self.high, self.planner, self.generator = model, high, planner, generator
        self.frameskip, self.proprio = frameskip, proprio
        self.action_repeat = frameskip
        self.problem = TwoLevelProblem(latent_dynamics(model, frameskip, len(self.scale), hold=False),
                                       fixed_z_step(high.step), high.abstract, deterministic_cost,
                                       toward=subgoal_and_goal(goal_weight) if goal_weight > 0 else None)
        self._goal: torch.Tensor | None = None
        self._state = HierarchyState()

    def reset(self, tasks: Tasks) -> None:
        goal_proprio = None if self.proprio is None else self.proprio(tasks.goal.numpy()).astype(np.float32)
        with torch.no_grad():
            self._goal = encode_observation(self.model, PixelObservation(stacked(tasks.goal_frames).numpy(), goal_proprio))
        self._state = HierarchyState()

    def act(self, obs: PixelObservation, rows: torch.Tensor) -> ControllerOutput:
        """``obs`` of every episode -> raw actions ``(N, frameskip, A)`` for the next planner step."""
        if self._goal is None:
            raise ValueError("HierarchicalLatentMPC.act called before reset(tasks)")
        with torch.no_grad():
            s1 = encode_observation(self.model, obs)
            result = self.planner.plan(s1, self._goal, self.problem, self._state, self.generator)
        self._state = result.state
        a = result.actions[:, 0].cpu().double().numpy()  # (N, frameskip * A)
        return ControllerOutput(a.reshape(a.shape[0], self.frameskip, -1) * self.scale)
