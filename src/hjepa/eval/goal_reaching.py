"""Goal-conditioned planning evaluation with DINO-WM's protocol, for the external pixel envs.

Protocol (Zhou et al., "DINO-WM", 2024, ``goal_source='dset'``):

1. From held-out episodes (never used for training), draw ``n`` pairs (episode, step ``t``) with a
   fixed evaluation seed. The start is the simulator state and observation at ``t``; the goal is
   the observation the episode reached ``goal_steps`` environment steps later
   (DINO-WM: ``goal_H = 5`` planner steps x frameskip 5 = 25 steps) — reachable by construction.
2. The controller sees only observations (the start, then what the environment renders) and the
   goal observation; the simulator's true state is used only to check success.
3. Every ``frameskip`` environment steps (one planner step) the true state is compared with the
   goal state by the environment's published test (PushT: position < 20 and angle < 20 degrees;
   PointMaze: within 0.5); an episode succeeds if it passes at any check within the budget
   (DINO-WM's MPC counts an episode solved once it succeeds after a round). The final check
   alone is reported too.

:func:`random_state_tasks` gives DINO-WM's other goal source (its PointMaze setting): start and
goal anywhere in free space.

Controllers: :class:`LatentMPC` (plan in the world model's representation space with MPC),
:class:`RandomActions` and :class:`ReplayReference` (the held-out episode's own actions, open
loop: the upper bound of a deterministic simulator, and a check of the harness itself).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import torch
from torch import Tensor

from hjepa.agent.cost import IntrinsicCost
from hjepa.agent.mpc import ModelPredictiveController
from hjepa.data.pixel_trajectories import PixelTrajectories
from hjepa.envs.adapters.batch import PixelEnvBatch
from hjepa.runs.progress import progress
from hjepa.world.model import JEPAWorldModel


@dataclass
class GoalTasks:
    """``N`` start/goal pairs cut from held-out episodes.

    start_states, goal_states (N, S) float64; start_frames, goal_frames (N, m, C, H, W) uint8 (the
    ``m`` stacked frames ending at the start / goal step); reference_actions (N, goal_steps, A)
    the actions the episode took in between; episode, start (N,) where they came from.
    """

    start_states: np.ndarray
    start_frames: np.ndarray
    goal_states: np.ndarray
    goal_frames: np.ndarray
    reference_actions: np.ndarray
    episode: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return self.start_states.shape[0]

    @staticmethod
    def stacked(frames: np.ndarray) -> np.ndarray:
        """(N, m, C, H, W) -> (N, m*C, H, W): the observation the controller sees."""
        n, m, c, h, w = frames.shape
        return frames.reshape(n, m * c, h, w)


def sample_goal_tasks(
    dataset: PixelTrajectories, n: int, goal_steps: int, frame_stack: int, seed: int
) -> GoalTasks:
    """DINO-WM ``dset`` goals: ``n`` (episode, t) drawn uniformly with a fixed ``seed``."""
    if n < 1 or goal_steps < 1 or frame_stack < 1:
        raise ValueError(f"n, goal_steps and frame_stack must be >= 1, got {n}, {goal_steps}, {frame_stack}")
    if dataset.steps < goal_steps:
        raise ValueError(f"held-out episodes have {dataset.steps} steps, fewer than goal_steps={goal_steps}")
    rng = np.random.default_rng(seed)
    episode = rng.integers(0, len(dataset), n)
    start = rng.integers(0, dataset.steps - goal_steps + 1, n)
    goal = start + goal_steps

    def frames_at(step: np.ndarray) -> np.ndarray:
        idx = np.clip(step[:, None] - np.arange(frame_stack - 1, -1, -1), 0, None)  # (N, m)
        return dataset.frames[episode[:, None], idx]

    reference = dataset.actions[episode[:, None], start[:, None] + np.arange(goal_steps)]
    return GoalTasks(
        dataset.states[episode, start], frames_at(start), dataset.states[episode, goal], frames_at(goal),
        reference, episode, start,
    )


def random_state_tasks(batch: PixelEnvBatch, n: int, seed: int) -> GoalTasks:
    """DINO-WM's ``random_state`` goals (its PointMaze protocol): start and goal states drawn
    anywhere in free space at rest by the adapter's ``sample_free_states``, the goal observation
    rendered from the goal state (``m`` copies of the frame: at rest nothing moves). No reference
    actions exist (``reference_actions`` is empty). ``batch`` needs at least one copy."""
    env = batch.envs[0]
    if not hasattr(env, "sample_free_states"):
        raise ValueError(f"{env.spec.name} has no free-space state sampler: use eval.goal_source dataset")
    rng = np.random.default_rng(seed)
    starts, goals = env.sample_free_states(n, rng), env.sample_free_states(n, rng)
    m = batch.frame_stack

    def frames(states: np.ndarray) -> np.ndarray:
        return np.stack([np.repeat(env.set_state(s)[None], m, axis=0) for s in states])

    empty = np.zeros((n, 0, env.spec.action_dim))
    return GoalTasks(starts, frames(starts), goals, frames(goals), empty, np.full(n, -1), np.zeros(n, dtype=np.int64))


class Controller(Protocol):
    def reset(self, tasks: GoalTasks) -> None: ...

    def act(self, obs: np.ndarray, macro_step: int) -> np.ndarray:
        """obs (N, m*C, H, W) uint8 -> raw actions (N, frameskip, A) for the next planner step."""
        ...


def latent_dynamics(model: JEPAWorldModel, frameskip: int, action_dim: int, hold: bool) -> Callable[[Tensor, Tensor], Tensor]:
    """``(state (B, S, D), plan action (B, S, P)) -> next state (B, S, D)``.

    With ``hold`` a plan action is one (scaled) environment action ``(A,)`` held for
    ``frameskip`` steps; otherwise it is the whole macro action ``(frameskip * A,)`` (DINO-WM).
    """

    def dynamics(state: Tensor, action: Tensor) -> Tensor:
        # Held: [a, a, ..., a] is the k actions concatenated in time order, as in training.
        macro = action.repeat(*([1] * (action.dim() - 1)), frameskip) if hold else action
        return model.step(state, macro)

    return dynamics


class LatentMPC:
    """Model-predictive control in representation space (encode, plan, execute, re-plan).

    Args:
        model: the world model, in eval mode.
        mpc: controller holding the planner, horizon and warm start.
        cost: ``IntrinsicCost`` without a goal; ``with_goal`` gives each episode its own.
        action_scale: ``(A,)`` the world model's actions are raw actions divided by this.
        frameskip: environment steps per planner step.
        hold: plan one held action per planner step instead of the full macro action.
    """

    def __init__(
        self, model: JEPAWorldModel, mpc: ModelPredictiveController, cost: IntrinsicCost,
        action_scale: np.ndarray, frameskip: int, hold: bool,
    ) -> None:
        self.model, self.mpc, self.base_cost = model, mpc, cost
        self.scale = np.asarray(action_scale, dtype=np.float64)
        self.frameskip, self.hold = frameskip, hold
        self._dynamics = latent_dynamics(model, frameskip, len(self.scale), hold)
        self.plan_seconds = 0.0
        self.last_plan: Tensor | None = None

    def _encode(self, obs: np.ndarray) -> Tensor:
        device = next(self.model.parameters()).device
        return self.model.encode(torch.from_numpy(obs).to(device).float().div_(255.0))

    def reset(self, tasks: GoalTasks) -> None:
        with torch.no_grad():
            self._cost = self.base_cost.with_goal(self._encode(GoalTasks.stacked(tasks.goal_frames)))
        self.mpc.reset(len(tasks))

    def act(self, obs: np.ndarray, macro_step: int) -> np.ndarray:
        start = time.perf_counter()
        with torch.no_grad():
            action, plan = self.mpc.act(self._encode(obs), self._dynamics, self._cost)
        self.plan_seconds += time.perf_counter() - start
        self.last_plan = plan.actions
        a = action.cpu().double().numpy()
        n = a.shape[0]
        macro = np.repeat(a[:, None], self.frameskip, axis=1) if self.hold else a.reshape(n, self.frameskip, -1)
        return macro * self.scale


class RandomActions:
    """Uniform random actions in the box (a floor: how often the goal is reached by chance)."""

    def __init__(self, low: np.ndarray, high: np.ndarray, frameskip: int, seed: int) -> None:
        self.low, self.high, self.frameskip, self.seed = np.asarray(low), np.asarray(high), frameskip, seed

    def reset(self, tasks: GoalTasks) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.n = len(tasks)

    def act(self, obs: np.ndarray, macro_step: int) -> np.ndarray:
        return self.rng.uniform(self.low, self.high, (self.n, self.frameskip, len(self.low)))


class ReplayReference:
    """The held-out episode's own actions, open loop, then zero actions (deterministic upper bound)."""

    def __init__(self, frameskip: int) -> None:
        self.frameskip = frameskip

    def reset(self, tasks: GoalTasks) -> None:
        self.actions = tasks.reference_actions

    def act(self, obs: np.ndarray, macro_step: int) -> np.ndarray:
        n, total, a = self.actions.shape
        out = np.zeros((n, self.frameskip, a))
        begin = macro_step * self.frameskip
        chunk = self.actions[:, begin:begin + self.frameskip]
        out[:, :chunk.shape[1]] = chunk
        return out


@dataclass
class GoalReachingResult:
    """Per-episode outcome of :func:`evaluate_goal_reaching` (N episodes).

    success (N,) bool: passed the success test at some check; final_success (N,) at the last;
    steps_to_success (N,) env steps (-1: never); start_success (N,) already at the start;
    final_distances {name: (N,)}; frames: recorded episodes, each (T, H, W, 3) uint8;
    plan_seconds: time spent deciding; env_steps: environment steps per episode.
    """

    success: np.ndarray
    final_success: np.ndarray
    steps_to_success: np.ndarray
    start_success: np.ndarray
    final_distances: dict[str, np.ndarray]
    frames: list[np.ndarray] = field(default_factory=list)
    plan_seconds: float = 0.0
    env_steps: int = 0

    def summary(self) -> dict:
        reached = self.steps_to_success[self.steps_to_success >= 0]
        out = {
            "success_rate": float(self.success.mean()),
            "final_success_rate": float(self.final_success.mean()),
            "start_success_rate": float(self.start_success.mean()),
            "episodes": int(len(self.success)),
            "mean_steps_to_success": float(reached.mean()) if len(reached) else None,
            "planning_ms_per_step": 1000.0 * self.plan_seconds / max(1, self.env_steps),
        }
        for name, value in self.final_distances.items():
            out[f"median_final_{name}"] = float(np.median(value))
        return out


def evaluate_goal_reaching(
    batch: PixelEnvBatch, tasks: GoalTasks, controller, frameskip: int, budget_steps: int,
    success: Callable[[np.ndarray, np.ndarray], np.ndarray],
    distances: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]],
    record: int = 0, show_progress: bool = False,
) -> GoalReachingResult:
    """Run ``controller`` on every task at once for ``budget_steps`` environment steps.

    ``batch`` must hold ``len(tasks)`` copies with the dataset's ``frame_stack``;
    ``budget_steps`` is rounded up to whole planner steps.
    """
    n = len(tasks)
    if len(batch) != n:
        raise ValueError(f"the environment batch has {len(batch)} copies for {n} tasks")
    if budget_steps < 1 or frameskip < 1:
        raise ValueError(f"budget_steps and frameskip must be >= 1, got {budget_steps} and {frameskip}")
    macro_steps = -(-budget_steps // frameskip)
    obs = batch.set_states(tasks.start_states, tasks.start_frames)
    controller.reset(tasks)
    start_success = success(batch.states(), tasks.goal_states)
    hit = np.zeros(n, dtype=bool)
    steps_to = np.full(n, -1, dtype=np.int64)
    c = batch.spec.obs_shape[0]
    videos = [[obs[i, -c:]] for i in range(min(record, n))]
    goal_frames = tasks.goal_frames[:, -1]  # (N, C, H, W)
    plan_seconds = 0.0
    for k in progress(range(macro_steps), desc="plan", enabled=show_progress):
        t0 = time.perf_counter()
        actions = controller.act(obs, k)  # (N, frameskip, A)
        plan_seconds += time.perf_counter() - t0
        for j in range(frameskip):
            obs = batch.step(actions[:, j])
            for i, video in enumerate(videos):
                video.append(obs[i, -c:])
        ok = success(batch.states(), tasks.goal_states)
        steps_to[ok & ~hit] = (k + 1) * frameskip
        hit |= ok
    final_states = batch.states()
    frames = [
        np.concatenate([np.stack(v), np.repeat(goal_frames[i][None], len(v), 0)], axis=-1).transpose(0, 2, 3, 1)
        for i, v in enumerate(videos)
    ]  # (T, H, 2W, 3): the episode beside its goal
    return GoalReachingResult(
        hit, success(final_states, tasks.goal_states), steps_to, start_success,
        distances(final_states, tasks.goal_states), frames, plan_seconds, macro_steps * frameskip,
    )
