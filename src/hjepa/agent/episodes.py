"""The perception-action cycle over a batch of episodes: encode, act, step the world, compute the
intrinsic cost of what happened, store it in short-term memory.

:class:`AgentController` is the agent as a controller of the one episode loop
(:func:`hjepa.control.episodes.run_episodes`): it perceives (renders and encodes the observation),
decides, and records what memory stores. All ``N`` episodes run in lockstep; the agent still
computes for episodes that have stopped (a batch is one tensor op) but their steps are no longer
stored or counted. Time inside the agent (deciding) and inside the encoder (perceiving) is measured
separately (rendering is the environment's and is not counted).

With a ``teacher`` (a Mode-2 agent on the same episodes) every stored step also holds the action
the teacher would have taken in that state: the DAgger labels that compile Mode-2 into Mode-1.
:func:`run_agent_episodes` runs the loop and turns the records into memory entries, per-episode
intrinsic terms, zone violations and a per-decision trace.
"""

from __future__ import annotations

import time
from typing import Literal

import torch
from torch import Tensor

from hjepa.agent.agent import Agent
from hjepa.agent.memory import ShortTermMemory
from hjepa.agent.tasks import in_zone, reached
from hjepa.control.episodes import EpisodeResult, run_episodes
from hjepa.control.perception import PixelPerception
from hjepa.control.protocol import ControllerOutput
from hjepa.control.worlds import PositionWorld
from hjepa.cost.regions import Box
from hjepa.envs.tasks import Tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError


class AgentController:
    """An :class:`~hjepa.agent.agent.Agent` (and optionally its teacher) as an episode-loop controller.

    Args:
        agent: the acting agent (reset here with ``cost`` and ``goal_states``).
        perception: renders and encodes positions into states ``(N, D)``.
        cost, goal_states: the episodes' intrinsic cost and encoded goals ``(N, D)``.
        action_repeat: environment steps per decision (the world model's frameskip).
        teacher: a Mode-2 agent labelling every visited state with its action (DAgger).
        label_own_actions: store the executed actions as labels (the agent is its own teacher).
        teacher_label: the teacher's action it would execute, or its ``consensus``.
        position_decoder: ``states (M, D) -> (M, 2)`` to draw the first imagined trajectory of the
            first ``record`` episodes.
    """

    def __init__(self, agent: Agent, perception: PixelPerception, cost, goal_states: Tensor, action_repeat: int,
                 teacher: Agent | None = None, label_own_actions: bool = False,
                 teacher_label: Literal["action", "consensus"] = "action", position_decoder=None, record: int = 0) -> None:
        if teacher is not None and teacher.unstick:
            raise InputError("a teacher only labels the states another agent reaches: build it with unstick=False "
                             "(it would take the other agent's actions for its own)")
        self.agent, self.perception, self.cost, self.goal_states = agent, perception, cost, goal_states
        self.action_repeat = action_repeat
        self.teacher, self.label_own_actions, self.teacher_label = teacher, label_own_actions, teacher_label
        self.position_decoder, self.record = position_decoder, record

    def reset(self, tasks: Tasks) -> None:
        self.layout = tasks.layout
        self.agent.reset(self.cost, self.goal_states)
        if self.teacher is not None:
            self.teacher.reset(self.cost, self.goal_states)
        self.states: list[Tensor] = []
        self.actions: list[Tensor] = []
        self.labels: list[Tensor | None] = []
        self.actives: list[Tensor] = []
        self.terms: dict[str, list[Tensor]] = {}
        self.decide = self.perceive = 0.0
        self.random_actions = 0
        self.imagined: Tensor | None = None

    def _perceive(self, pos: Tensor) -> Tensor:
        obs = self.perception.observe(pos, self.layout)  # the world's camera: not the agent's time
        tic = time.perf_counter()
        state = self.perception.encode(obs)
        self.perceive += time.perf_counter() - tic
        if self.states:  # the previous decision's transition is complete: price it
            step_terms = self.agent.step_terms(self.states[-1], self.actions[-1].to(state), state)
            for name, value in step_terms.items():
                self.terms.setdefault(name, []).append(value.cpu())
        self.states.append(state)
        return state

    def act(self, obs: Tensor, rows: Tensor) -> ControllerOutput:
        """``obs (N, 2)`` positions of every episode; decides for all, returns the ``rows``' actions."""
        state = self._perceive(obs)
        active = torch.zeros(len(obs), dtype=torch.bool)
        active[rows] = True
        tic = time.perf_counter()
        decision = self.agent.act(state)
        self.decide += time.perf_counter() - tic
        if not self.actions and self.record > 0 and self.position_decoder is not None:
            plan = None if decision.plan is None else decision.plan[: self.record]
            imagined = self.agent.imagine(state[: self.record], plan)
            if imagined is not None:
                flat = self.position_decoder(imagined.reshape(-1, imagined.shape[-1]))
                self.imagined = flat.reshape(imagined.shape[0], imagined.shape[1], 2).cpu()
        if decision.random is not None:
            self.random_actions += int((decision.random.cpu() & active).sum())
        label = None
        if self.teacher is not None:
            told = self.teacher.act(state)
            label = told.consensus if self.teacher_label == "consensus" and told.consensus is not None else told.action
        elif self.label_own_actions:  # the plan's action, not a random one taken to get unstuck
            label = decision.action if decision.random is None else torch.where(
                decision.random[:, None], decision.consensus, decision.action)
        self.actions.append(decision.action.cpu())
        self.labels.append(None if label is None else label.cpu())
        self.actives.append(active)
        return ControllerOutput(decision.action.detach().cpu().float()[rows])

    def finish(self, pos: Tensor) -> None:
        """Perceive the final positions ``(N, 2)``: prices the last decision's transition."""
        if self.actions:
            self._perceive(pos)


def run_agent_episodes(
    env: TwoRooms, controller: AgentController, tasks: Tasks, max_steps: int, zone: Box | None = None,
    memory: ShortTermMemory | None = None, progress: bool = False, desc: str = "episodes",
) -> EpisodeResult:
    """Run the agent on ``tasks`` for up to ``max_steps`` environment steps; store into ``memory``.

    The result's ``extra`` holds per episode the zone violations (environment steps inside the true
    forbidden ``zone``) and each unweighted intrinsic term summed over the episode (``term_<name>``);
    ``info`` the time per action (decide, perceive, both, per episode), the random actions unstick
    took and the teacher gap (mean squared distance between executed and teacher actions);
    ``trace`` one record per decision for the run's metrics log.
    """
    world = PositionWorld(env, lambda t, pos: reached(env, t, pos))
    result = run_episodes(world, controller, tasks, max_steps, progress=progress, desc=desc)
    controller.finish(world.observe())
    n, repeat, c = len(tasks), controller.action_repeat, controller
    active = torch.stack(c.actives, dim=1) if c.actives else torch.zeros(n, 0, dtype=torch.bool)  # (N, K)
    decisions = active.shape[1]
    ends = torch.tensor([min((k + 1) * repeat, max_steps) for k in range(decisions)], dtype=torch.long)  # (K,)
    stopped = result.success[:, None] & (result.steps_to_success[:, None] <= ends)  # (N, K) done after decision k
    terms = {name: torch.stack(v, dim=1) for name, v in c.terms.items()}  # (N, K)
    steps = torch.arange(1, result.paths.shape[1])
    running = (result.steps_to_success[:, None] < 0) | (result.steps_to_success[:, None] >= steps)  # (N, T)
    executed = steps <= (int(ends[-1]) if decisions else 0)
    violations = (in_zone(zone, result.paths[:, 1:].reshape(-1, 2)).view(n, -1) & running & executed).sum(1)
    result.extra = {"violations_per_episode": violations.float(), "episodes_with_violation": (violations > 0).float(),
                    **{f"term_{name}": (value * active).sum(1) for name, value in terms.items()}}
    per_action = max(decisions * n, 1)
    gap = float("nan")
    if c.teacher is not None and c.actions:
        executed_actions, labelled = torch.stack(c.actions, dim=1), torch.stack(c.labels, dim=1)  # type: ignore[arg-type]
        gap = float(((executed_actions - labelled).square().sum(-1) * active).sum() / active.sum().clamp_min(1))
    result.info = {"random_actions_per_episode": c.random_actions / max(n, 1),
                   "decide_seconds": c.decide, "perceive_seconds": c.perceive,
                   "decide_ms_per_action": 1000.0 * c.decide / per_action,
                   "perceive_ms_per_action": 1000.0 * c.perceive / per_action,
                   "ms_per_action": 1000.0 * (c.decide + c.perceive) / per_action, "teacher_gap": gap}
    result.planned_paths = [] if c.imagined is None else [[path] for path in c.imagined]
    result.trace = [
        {"env_step": int(ends[k]), "success": float(stopped[:, k].float().mean()), "running": int(active[:, k].sum()),
         **{f"term_{name}": float(value[:, k][active[:, k]].mean()) for name, value in terms.items()}}
        for k in range(decisions)
    ]
    if memory is not None and c.actions:
        _remember(memory, c, active, stopped, terms)
    return result


def _remember(memory: ShortTermMemory, c: AgentController, active: Tensor, stopped: Tensor,
              terms: dict[str, Tensor]) -> None:
    """Store the running steps of every episode that ran at least one (states, actions, terms, done
    flags, goals, lengths, labels)."""
    lengths = active.sum(1)
    keep = lengths > 0
    if not bool(keep.any()):
        return
    labels = None
    if c.labels[0] is not None:
        labels = torch.stack(c.labels, dim=1)[keep]  # type: ignore[arg-type]
    memory.add(
        torch.stack([s.cpu() for s in c.states], dim=1)[keep], torch.stack(c.actions, dim=1)[keep],
        {name: value[keep] for name, value in terms.items()}, (stopped & active)[keep],
        c.goal_states.cpu()[keep], lengths[keep], labels,
    )
