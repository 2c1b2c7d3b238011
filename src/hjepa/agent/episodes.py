"""The perception-action cycle over a batch of episodes: encode, act, step the world, compute the
intrinsic cost of what happened, store it in short-term memory.

All ``N`` episodes run in lockstep; one decision is held for ``action_repeat`` environment steps
(the world model's frameskip). An episode stops at success (the environment's verdict, see
:func:`~hjepa.agent.tasks.reached`); the agent still computes for it (a batch is one tensor op) but
its steps are no longer stored or counted. Time inside the agent (deciding) and inside the encoder
(perceiving) is measured separately.

With a ``teacher`` (a Mode-2 agent on the same episodes) every stored step also holds the action
the teacher would have taken in that state: the DAgger labels that compile Mode-2 into Mode-1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from hjepa.agent.agent import Agent
from hjepa.agent.memory import ShortTermMemory
from hjepa.agent.perception import PixelPerception
from hjepa.agent.regions import Box
from hjepa.agent.tasks import AgentTasks, in_zone, reached
from hjepa.envs.two_rooms import TwoRooms
from hjepa.runs.progress import progress as progress_bar


@dataclass
class EpisodeResult:
    """What :func:`run_episodes` measured for ``N`` episodes.

    success (N,) bool; steps_to_success (N,) env steps, -1 if failed; violations (N,) env steps
    spent inside the forbidden zone; paths (N, max_steps+1, 2) true positions (held after success);
    term_totals {name: (N,)} sum over the episode of each unweighted intrinsic term; planned_paths
    (R, T+1, 2) positions (probe) of the first decision's imagined trajectory for the first R
    episodes, or None; decide_seconds / perceive_seconds: time inside the agent / the encoder (rendering
    the observation is the environment's and is not counted);
    decisions: agent calls; random_actions: decisions of running episodes taken at random by the
    agent's ``unstick`` (an action predicted to move it had not); teacher_gap: mean squared distance
    between executed and teacher actions;
    trace: one record per decision (env step, success so far, mean of each term over the episodes
    still running), for the run's metrics log.
    """

    success: Tensor
    steps_to_success: Tensor
    violations: Tensor
    paths: Tensor
    term_totals: dict[str, Tensor] = field(default_factory=dict)
    planned_paths: Tensor | None = None
    decide_seconds: float = 0.0
    perceive_seconds: float = 0.0
    decisions: int = 0
    random_actions: int = 0
    action_repeat: int = 1
    teacher_gap: float = float("nan")
    trace: list[dict] = field(default_factory=list)

    @property
    def episodes(self) -> int:
        return int(self.success.shape[0])

    def summary(self) -> dict[str, float]:
        """Plain floats: success, steps, violations, time per action per episode, term means."""
        hit = self.steps_to_success[self.success].float()
        per_action = max(self.decisions * self.episodes, 1)
        out = {
            "success_rate": float(self.success.float().mean()),
            "episodes": float(self.episodes),
            "mean_steps_to_success": float(hit.mean()) if hit.numel() else float("nan"),
            "violations_per_episode": float(self.violations.float().mean()),
            "episodes_with_violation": float((self.violations > 0).float().mean()),
            "decisions": float(self.decisions),
            "random_actions_per_episode": self.random_actions / max(self.episodes, 1),
            "decide_ms_per_action": 1000.0 * self.decide_seconds / per_action,
            "perceive_ms_per_action": 1000.0 * self.perceive_seconds / per_action,
            "ms_per_action": 1000.0 * (self.decide_seconds + self.perceive_seconds) / per_action,
        }
        if math.isfinite(self.teacher_gap):
            out["teacher_gap"] = self.teacher_gap
        for name, value in self.term_totals.items():
            out[f"term_{name}"] = float(value.mean())
        return out


def run_episodes(
    env: TwoRooms,
    perception: PixelPerception,
    agent: Agent,
    tasks: AgentTasks,
    cost,
    goal_states: Tensor,
    max_steps: int,
    action_repeat: int,
    zone: Box | None = None,
    memory: ShortTermMemory | None = None,
    teacher: Agent | None = None,
    label_own_actions: bool = False,
    teacher_label: Literal["action", "consensus"] = "action",
    position_decoder=None,
    record: int = 0,
    progress: bool = False,
    desc: str = "episodes",
) -> EpisodeResult:
    """Run ``agent`` on ``tasks`` for up to ``max_steps`` environment steps.

    Args:
        cost: the episodes' intrinsic cost (from :meth:`Configurator.episode_cost`).
        goal_states: ``(N, D)`` encoded goals: the policy's and critic's goal input.
        max_steps: environment steps per episode.
        action_repeat: environment steps per decision (the world model's frameskip).
        zone: the true forbidden rectangle, to count violations (None: none).
        memory: where the episodes are stored (None: not stored).
        teacher: a Mode-2 agent labelling every visited state with its action (DAgger).
        label_own_actions: store the executed actions as labels (the agent is its own teacher).
        teacher_label: which of the teacher's outputs labels a state: the action it would execute,
            or its ``consensus`` (see :class:`~hjepa.agent.agent.Decision`).
        position_decoder: ``states (M, D) -> (M, 2)`` to draw the first imagined trajectory.
        record: episodes whose first imagined trajectory is kept.
    """
    if max_steps < 1 or action_repeat < 1:
        raise ValueError(f"max_steps and action_repeat must be >= 1, got {max_steps} and {action_repeat}")
    if teacher is not None and teacher.unstick:
        raise ValueError("a teacher only labels the states another agent reaches: build it with unstick=False "
                         "(it would take the other agent's actions for its own)")
    repeat = action_repeat
    n, layout = len(tasks), tasks.layout
    agent.reset(cost, goal_states)
    if teacher is not None:
        teacher.reset(cost, goal_states)
    pos = tasks.start.clone().float()
    paths = torch.empty(n, max_steps + 1, 2)
    paths[:, 0] = pos
    done = reached(env, tasks, pos)
    steps_to_success = torch.where(done, 0, -1).long()
    violations = torch.zeros(n, dtype=torch.long)
    decide, perceive = 0.0, 0.0
    obs = perception.observe(pos, layout)  # the world's camera: not the agent's time
    tic = time.perf_counter()
    state = perception.encode(obs)
    perceive += time.perf_counter() - tic
    states, actions, labels, dones, actives = [state.cpu()], [], [], [], []
    terms: dict[str, list[Tensor]] = {}
    planned = None
    trace: list[dict] = []
    t, decisions, random_actions = 0, 0, 0
    bar = progress_bar(max_steps, desc=desc, enabled=progress)
    try:
        while t < max_steps and not bool(done.all()):
            active = ~done
            tic = time.perf_counter()
            decision = agent.act(state)
            decide += time.perf_counter() - tic
            if decisions == 0 and record > 0 and position_decoder is not None:
                imagined = agent.imagine(state[:record], None if decision.plan is None else decision.plan[:record])
                if imagined is not None:
                    planned = position_decoder(imagined.reshape(-1, imagined.shape[-1])).reshape(
                        imagined.shape[0], imagined.shape[1], 2).cpu()
            decisions += 1
            if decision.random is not None:
                random_actions += int((decision.random.cpu() & active).sum())
            label = None
            if teacher is not None:
                told = teacher.act(state)
                label = told.consensus if teacher_label == "consensus" and told.consensus is not None else told.action
            elif label_own_actions:  # the plan's action, not a random one taken to get unstuck
                label = decision.action if decision.random is None else torch.where(
                    decision.random[:, None], decision.consensus, decision.action)
            action = decision.action.detach().cpu().float()
            taken = min(repeat, max_steps - t)
            for _ in range(taken):
                moved = env.step(pos, action, layout)
                pos = torch.where(done.unsqueeze(-1), pos, moved)
                t += 1
                paths[:, t] = pos
                violations += (in_zone(zone, pos) & ~done).long()
                arrived = ~done & reached(env, tasks, pos)
                steps_to_success[arrived] = t
                done = done | arrived
            obs = perception.observe(pos, layout)
            tic = time.perf_counter()
            next_state = perception.encode(obs)
            perceive += time.perf_counter() - tic
            step_terms = agent.step_terms(state, decision.action.to(state), next_state)
            record = {"env_step": t, "success": float(done.float().mean()), "running": int(active.sum())}
            for name, value in step_terms.items():
                terms.setdefault(name, []).append(value.cpu())
                record[f"term_{name}"] = float(value.cpu()[active].mean())
            trace.append(record)
            states.append(next_state.cpu())
            actions.append(decision.action.cpu())
            labels.append(None if label is None else label.cpu())
            dones.append(done & active)  # terminated by this decision
            actives.append(active)
            state = next_state
            bar.update(taken)
            bar.set_postfix(success=f"{float(done.float().mean()):.2f}", refresh=False)
    finally:
        bar.close()
    paths[:, t + 1 :] = pos.unsqueeze(1)
    active_steps = torch.stack(actives, dim=1) if actives else torch.zeros(n, 0, dtype=torch.bool)
    term_totals = {name: (torch.stack(v, dim=1) * active_steps).sum(1) for name, v in terms.items()}
    gap = float("nan")
    if teacher is not None and actions:
        executed = torch.stack(actions, dim=1)
        labelled = torch.stack([lab for lab in labels], dim=1)  # type: ignore[misc]
        gap = float(((executed - labelled).square().sum(-1) * active_steps).sum() / active_steps.sum().clamp_min(1))
    if memory is not None and actions:
        lengths = active_steps.sum(1)
        keep = lengths > 0
        if bool(keep.any()):
            label_tensor = None
            if labels[0] is not None:
                label_tensor = torch.stack(labels, dim=1)[keep]  # type: ignore[arg-type]
            memory.add(
                torch.stack(states, dim=1)[keep], torch.stack(actions, dim=1)[keep],
                {name: torch.stack(v, dim=1)[keep] for name, v in terms.items()},
                torch.stack(dones, dim=1)[keep], goal_states.cpu()[keep], lengths[keep], label_tensor,
            )
    return EpisodeResult(
        success=done, steps_to_success=steps_to_success, violations=violations, paths=paths,
        term_totals=term_totals, planned_paths=planned, decide_seconds=decide, perceive_seconds=perceive,
        decisions=decisions, random_actions=random_actions, action_repeat=repeat, teacher_gap=gap, trace=trace,
    )

