"""Navigation in the maze with a two-level world model: the hierarchical controller.

:class:`HierarchicalMPC` is a controller for :func:`hjepa.control.episodes.run_episodes`
(as is the flat :class:`~hjepa.control.learned.LearnedMPC`, which runs on the maze unchanged):
it renders and encodes the observation, plans with a
:class:`~hjepa.planning.hierarchical.HierarchicalPlanner` over the learned level-2 and level-1
predictors, and returns the first action. With a latent ``z`` at level 2 it plans with ``z`` at the
prior's mean (``z_mode='mean'``), scores every plan over draws from the prior (``'expected'``,
``'worst'``), or weighs the draws by what the episode's macro steps showed so far (``'inferred'``,
:class:`~hjepa.control.z_posterior.LatentPosterior`: online inference of z).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Literal

import torch
from torch import Tensor

from hjepa.control.dynamics import clip_norm, learned_dynamics
from hjepa.control.perception import PixelPerception
from hjepa.control.protocol import ControllerOutput
from hjepa.control.unstick import Unstick
from hjepa.control.z_posterior import LatentPosterior
from hjepa.envs.maze import Maze
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError
from hjepa.planning.base import rollout
from hjepa.planning.distance import DistanceGuidance
from hjepa.planning.hierarchical import HierarchicalPlanner, HierarchyState, TwoLevelProblem
from hjepa.planning.latent import LatentSamples, deterministic_cost, fixed_z_step
from hjepa.world.hierarchy import HighLevelModel
from hjepa.world.latent import sample_prior
from hjepa.world.model import JEPAWorldModel

ZMode = Literal["mean", "expected", "worst", "inferred"]


class HierarchicalMPC:
    """Two-level Mode-2 control from pixels.

    Args:
        env: renders observations from positions and layouts.
        low_model: level-1 world model (eval mode); its predictor takes ``2 * frameskip`` actions.
        high: level-2 model on top of it (eval mode).
        planner: the hierarchical planner (its level-2 planner works on macro-actions ``(U,)``).
        generator: randomness of the planners (and of the z draws).
        max_action_norm: clip held actions to this norm inside the model and when executing.
        z_mode: with a latent at level 2, 'mean' plans with z = 0, 'expected' / 'worst' score
            plans by the mean / max cost over ``z_draws`` draws from the prior (z = 0 included);
            'inferred' by the mean cost under the episode's posterior over those draws.
        z_draws: draws for 'expected', 'worst' and 'inferred'.
        z_temperature: 'inferred' only: the posterior's temperature (energy units of level 2's
            prediction error per macro step).
        z_decay: 'inferred' only: the factor the posterior's energies fade by per macro step seen.
        position_decoder: ``states (M, D1) -> (M, 2)`` to draw planned paths (optional).
        unstick: when an action predicted to move the agent did not, take a random one instead
            (``hjepa.control.unstick``); None: never.
        guidance: level 2's cost, level 1's cost and the 'near' test from a learned temporal distance
            (z_mode 'mean' only); None: squared distances.
    """

    def __init__(self, env: Maze, low_model: JEPAWorldModel, high: HighLevelModel, planner: HierarchicalPlanner,
                 generator: torch.Generator, max_action_norm: float, z_mode: ZMode = "mean", z_draws: int = 8,
                 position_decoder: Callable[[Tensor], Tensor] | None = None, unstick: Unstick | None = None,
                 z_temperature: float = 0.1, z_decay: float = 0.9, guidance: DistanceGuidance | None = None) -> None:
        if high.low_state_dim != low_model.state_dim:
            raise InputError(f"level 2 was built for {high.low_state_dim}-dim level-1 states, the level-1 model has {low_model.state_dim}")
        if high.low_action_dim != low_model.action_dim:
            raise InputError(f"level 2 takes level-1 actions of {high.low_action_dim}, the level-1 model {low_model.action_dim}")
        if z_mode not in ("mean", "expected", "worst", "inferred"):
            raise InputError(f"z_mode must be 'mean', 'expected', 'worst' or 'inferred', got {z_mode!r}")
        if not z_temperature > 0 or not 0 < z_decay <= 1:
            raise InputError(f"need z_temperature > 0 and z_decay in (0, 1], got {z_temperature}, {z_decay}")
        if z_draws < 1:
            raise InputError(f"z_draws must be >= 1, got {z_draws}")
        if guidance is not None and high.latent_dim and z_mode != "mean":
            raise InputError(f"a learned distance guides planning with z at its mean only, got z_mode {z_mode!r}")
        self.env, self.low_model, self.high, self.planner = env, low_model, high, planner
        self.generator = generator
        self.action_repeat = low_model.action_dim // 2
        self.max_norm = min(max_action_norm, env.config.max_step)
        self.z_mode, self.z_draws, self.z_temperature, self.z_decay = z_mode, z_draws, z_temperature, z_decay
        self._samples: LatentSamples | None = None
        self._posterior: LatentPosterior | None = None
        self.position_decoder = position_decoder
        self.unstick = unstick
        self._low_dynamics = learned_dynamics(low_model, self.action_repeat, self.max_norm)
        self.perception = PixelPerception(env, low_model)
        self._tasks: Tasks | None = None
        self.guidance = guidance

    def _problem(self) -> TwoLevelProblem:
        if self.guidance is not None:
            g = self.guidance
            return TwoLevelProblem(self._low_dynamics, fixed_z_step(self.high.step), self.high.abstract, g.high_cost,
                                   near=g.near, toward=g.toward)
        if not self.high.latent_dim or self.z_mode == "mean":
            return TwoLevelProblem(self._low_dynamics, fixed_z_step(self.high.step), self.high.abstract, deterministic_cost)
        z = sample_prior(self.z_draws, self.high.z_scale.detach(), self.generator)
        samples = LatentSamples(self.high.step, z, "max" if self.z_mode == "worst" else "mean")
        if self.z_mode == "inferred":
            self._samples = samples
            self._posterior = LatentPosterior(self.high.step, lambda a: self.high.encode_actions(a)[0], z,
                                              self.high.macro_steps, self.z_temperature, self.z_decay)
        return TwoLevelProblem(self._low_dynamics, samples.dynamics, self.high.abstract, samples.cost,
                               lift=samples.lift, lower=samples.lower)

    def _informed_problem(self, rows: Tensor, s1: Tensor) -> TwoLevelProblem:
        """The planning problem of episodes ``rows`` (level-1 states ``s1 (M, D1)``): with
        ``z_mode='inferred'``, the draws weighed by each episode's posterior, after counting the
        macro step that ends now."""
        if self._posterior is None:
            return self._problem_now
        self._posterior.observe_state(rows, self.high.abstract(s1))
        weights, samples = self._posterior.weights(rows), self._samples
        return replace(self._problem_now, high_cost=lambda goal: samples.cost(goal, weights),
                       lower=samples.weighted_lower(weights))

    def reset(self, tasks: Tasks) -> None:
        self._tasks = tasks
        self._goal = self.perception(tasks.goal, tasks.layout)  # (N, D1)
        self._state = HierarchyState()
        self._problem_now = self._problem()
        if self._posterior is not None:
            self._posterior.reset(len(tasks))
        if self.unstick is not None:
            self.unstick.reset(len(tasks))

    def act(self, obs: Tensor, rows: Tensor) -> ControllerOutput:
        """``obs (N, 2)`` positions; plans for the running ``rows``."""
        if self._tasks is None:
            raise ValueError("HierarchicalMPC.act called before reset(tasks)")
        n = len(self._tasks)
        pos = obs[rows]
        layout = self._tasks.layout.index(rows)
        with torch.no_grad():
            s1 = self.perception(pos, layout)
            stuck = None
            if self.unstick is not None:
                stuck = self.unstick.stuck(rows, s1)
                if stuck.any() and self._state.low_warm is not None:  # plan afresh, not the same push
                    warm = self._state.low_warm.clone()
                    warm[rows[stuck]] = 0.0
                    self._state = replace(self._state, low_warm=warm)
            result = self.planner.plan(s1, self._goal[rows], self._informed_problem(rows, s1), self._state.index(rows),
                                       self.generator)
        self._state = self._state.update(rows, result.state, n)
        action = clip_norm(result.actions[:, 0], self.max_norm)
        if self.unstick is not None:
            action = self.unstick.kick(action, stuck)
            with torch.no_grad():
                self.unstick.remember(rows, s1, self._low_dynamics(s1.unsqueeze(1), action.unsqueeze(1))[:, 0])
        if self._posterior is not None:
            self._posterior.observe_action(rows, action.repeat(1, self.action_repeat))  # held: one level-1 action
        path = None
        if self.position_decoder is not None:
            with torch.no_grad():
                states = rollout(s1, result.actions.unsqueeze(1), self._low_dynamics)[:, 0]
            path = self.position_decoder(states.reshape(-1, states.shape[-1])).reshape(*states.shape[:2], 2).to(pos)
        return ControllerOutput(action.to(pos), path)
