"""The agent: the actor in its three modes, wired to a world model, a cost and optionally a critic.

- ``mode1``: reactive. ``a = policy(s, g)``: one forward pass, no world model (a stochastic
  policy's action is drawn from it, unless ``policy_mean``).
- ``mode2``: deliberate. Plan ``T`` actions through the world model minimising the planning cost,
  execute the first, re-plan next time from the previous plan shifted one step (MPC).
- ``mode2-warm``: Mode-2 initialised by Mode-1: the planner starts each decision from the
  policy's own rollout through the world model (:func:`~hjepa.agent.policy.policy_plan`).

The planning cost is the intrinsic cost's trajectory cost (closest approach to the goal over the
horizon, worst zone step...), or with a critic the discounted per-step intrinsic cost plus the
critic's value at the last predicted state (:class:`~hjepa.agent.critic.CriticPlanningCost`).

Mode-2 notices when the world was not as predicted (``unstick``): if the last action was predicted
to move the agent and the observed state did not change (less than ``hjepa.control.unstick.STUCK_RATIO`` of the predicted
move), that episode executes one random action of full norm and re-plans from scratch. The
environment stops a move at a wall instead of sliding along it, and the learned predictor lets a
diagonal push into a door's jamb slide through; the planner's best plan then exploits that error
at every decision and the agent stays pushed into the jamb for the rest of the episode: 12 of the
14 failures of H=4 with the critic ensemble on 300 Two Rooms episodes had not moved at all in their
last 50 steps, pressed against an edge of the door (docs/agent.md).

One :class:`Agent` serves a batch of ``N`` episodes at once; :meth:`Agent.reset` gives it their
cost and goals. Perception, stepping the world and storing into memory are the episode loop's
(:func:`hjepa.agent.episodes.run_episodes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

import torch
from torch import Tensor

from hjepa.agent.critic import Critic
from hjepa.agent.policy import GoalPolicy, policy_plan
from hjepa.control.dynamics import clip_norm
from hjepa.control.unstick import random_kicks, stuck_mask
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.cost.per_problem import PerProblemCost
from hjepa.cost.terminal import CriticPlanningCost
from hjepa.errors import InputError
from hjepa.planning.base import Dynamics, Planner, shift_plan

AgentMode = Literal["mode1", "mode2", "mode2-warm"]
EpisodeCost = Union[IntrinsicCost, PerProblemCost]


@dataclass
class Decision:
    """One decision for ``N`` episodes: ``action (N, A)`` to execute (norm-clipped); ``plan
    (N, T, A)`` the plan it came from (Mode-2's, or None in Mode-1); ``consensus (N, A)``: the
    first action of the sampling planner's final search mean (norm-clipped) — MPPI's weighted
    average of its best samples, a less noisy summary of what planning prefers than the single best
    sample — or the action itself for other planners and Mode-1; ``random (N,)`` bool: the action
    is ``unstick``'s random one instead of the plan's (None when ``unstick`` is off)."""

    action: Tensor
    plan: Tensor | None = None
    consensus: Tensor | None = None
    random: Tensor | None = None


class Agent:
    """The actor of one configured task.

    Args:
        dynamics: the world model as planner dynamics (states ``(B, S, D)``, actions ``(B, S, A)``).
        planner: Mode-2 optimiser (None for a Mode-1-only agent).
        horizon: planner steps ``T``.
        mode: ``mode1``, ``mode2`` or ``mode2-warm``.
        max_action_norm: executed actions are clipped to this L2 norm (as the world model was).
        generator: planner randomness, advanced by every decision.
        policy: the Mode-1 policy (needed by ``mode1`` and ``mode2-warm``).
        critic: the critic used as terminal cost in Mode-2, or None.
        discount: per-step discount of the critic planning cost.
        critic_weight: weight of the critic's terminal value.
        policy_mean: Mode-1 acts with a stochastic policy's mean instead of a sample of it.
        unstick: Mode-2 reacts to an action that was predicted to move the agent and did not (see
            the module docstring). It assumes the executed actions are its own: a teacher that
            only labels another agent's states must not use it.
    """

    def __init__(
        self,
        dynamics: Dynamics,
        planner: Planner | None,
        horizon: int,
        mode: AgentMode,
        max_action_norm: float,
        generator: torch.Generator,
        policy: GoalPolicy | None = None,
        critic: Critic | None = None,
        discount: float = 0.8,
        critic_weight: float = 1.0,
        policy_mean: bool = False,
        unstick: bool = False,
    ) -> None:
        if mode not in ("mode1", "mode2", "mode2-warm"):
            raise InputError(f"mode must be mode1, mode2 or mode2-warm, got {mode!r}")
        if mode in ("mode1", "mode2-warm") and policy is None:
            raise InputError(f"{mode} needs a trained policy (run `hjepa agent train` first and pass --learned)")
        if mode != "mode1" and planner is None:
            raise InputError(f"{mode} needs a planner")
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise InputError(f"horizon must be an int >= 1, got {horizon!r}")
        if not max_action_norm > 0:
            raise InputError(f"max_action_norm must be > 0, got {max_action_norm}")
        self.dynamics = dynamics
        self.planner = planner
        self.horizon = horizon
        self.mode: AgentMode = mode
        self.max_action_norm = float(max_action_norm)
        self.generator = generator
        self.policy = policy
        self.critic = critic
        self.discount = float(discount)
        self.critic_weight = float(critic_weight)
        self.policy_mean = bool(policy_mean)
        self.unstick = bool(unstick)
        self.cost: EpisodeCost | None = None
        self.planning_cost = None
        self.goal_input: Tensor | None = None
        self.warm_start: Tensor | None = None  # (N, T, A): previous plan shifted, Mode-2 only
        self.last: tuple[Tensor, Tensor] | None = None  # (N, D) previous state and its predicted successor

    def reset(self, cost: EpisodeCost, goal_input: Tensor) -> None:
        """Start ``N`` episodes: their intrinsic cost and the goal ``(N, G)`` policy and critic see."""
        if goal_input.dim() != 2:
            raise InputError(f"goal_input must be (N, G), got {tuple(goal_input.shape)}")
        self.cost = cost
        self.goal_input = goal_input.detach()
        self.warm_start = None
        self.last = None
        if self.critic is not None:
            self.planning_cost = CriticPlanningCost(cost, self.critic, self.goal_input, self.discount,
                                                    self.critic_weight)
        else:
            self.planning_cost = cost

    @torch.no_grad()
    def act(self, state: Tensor) -> Decision:
        """Decide for states ``(N, D)``: the action ``(N, A)`` and the plan behind it."""
        if self.cost is None or self.goal_input is None:
            raise ValueError("Agent.act called before reset(cost, goal_input)")
        if state.shape[0] != self.goal_input.shape[0]:
            raise InputError(f"state has {state.shape[0]} episodes, reset() was given {self.goal_input.shape[0]}")
        goal = self.goal_input.to(state)
        if self.mode == "mode1":
            assert self.policy is not None
            if self.policy_mean:
                action = mean = self.policy(state, goal)
            else:
                action, mean = self.policy.sample(state, goal, self.generator)
            executed = clip_norm(action, self.max_action_norm)
            return Decision(executed, None, executed if mean is action else clip_norm(mean, self.max_action_norm))
        assert self.planner is not None
        if self.mode == "mode2-warm":
            assert self.policy is not None
            init = policy_plan(self.policy, self.dynamics, state, goal, self.horizon)
        else:
            init = self.warm_start
        result = self.planner.plan(state, self.dynamics, self.planning_cost, self.horizon, init=init,
                                   generator=self.generator)
        warm = (result.warm_start if result.warm_start is not None else shift_plan(result.actions, 1)).detach()
        action = clip_norm(result.actions[:, 0].detach(), self.max_action_norm)
        mean = result.info.get("mean")
        consensus = clip_norm(mean[:, 0].detach(), self.max_action_norm) if isinstance(mean, Tensor) else action
        stuck = None
        if self.unstick:
            stuck = self.stuck(state)
            if stuck.any():
                action = random_kicks(action, stuck, self.max_action_norm, self.generator)
                warm = torch.where(stuck[:, None, None], torch.zeros_like(warm), warm)
            self.last = (state, self.dynamics(state.unsqueeze(1), action.unsqueeze(1))[:, 0])
        self.warm_start = warm
        return Decision(action, result.actions.detach(), consensus, stuck)

    def stuck(self, state: Tensor) -> Tensor:
        """``(N,)`` bool: the last action was predicted to move the agent and ``state (N, D)`` is
        still (almost) the state it was taken in."""
        if self.last is None or self.last[0].shape != state.shape:
            return torch.zeros(state.shape[0], dtype=torch.bool, device=state.device)
        previous, predicted = self.last
        return stuck_mask(previous, predicted, state)

    @torch.no_grad()
    def imagine(self, state: Tensor, plan: Tensor | None) -> Tensor | None:
        """The states ``(R, T+1, D)`` the world model predicts along ``plan (R, T, A)`` (or the
        policy's own rollout when ``plan`` is None and there is a policy), for the first ``R``
        episodes given to :meth:`reset` (``state`` is ``(R, D)``)."""
        if plan is None:
            if self.policy is None or self.goal_input is None:
                return None
            goal = self.goal_input[: state.shape[0]].to(state)
            plan = policy_plan(self.policy, self.dynamics, state, goal, self.horizon)
        states = [state.unsqueeze(1)]
        for t in range(plan.shape[1]):
            states.append(self.dynamics(states[-1], plan[:, t : t + 1]))
        return torch.cat(states, dim=1)

    @torch.no_grad()
    def step_terms(self, state: Tensor, action: Tensor, next_state: Tensor) -> dict[str, Tensor]:
        """Unweighted intrinsic terms ``{name: (N,)}`` of the transitions ``state -> next_state``
        under ``action`` (all ``(N, ...)``), what memory stores."""
        if self.cost is None:
            raise ValueError("Agent.step_terms called before reset(cost, goal_input)")
        states = torch.stack([state, next_state], dim=1)  # (N, 2, D)
        terms = self.cost.step_terms(states, action.unsqueeze(1).to(state))
        return {name: value[:, 0] for name, value in terms.items()}
