"""Practice for ``hjepa gym`` (``--practice.rounds N``): learning from the agent's own attempts.

Exploration data rarely holds what a task needs (PushT: the pushes that bring the block to a goal
pose). Each practice round

1. cuts ``practice.tasks`` start/goal pairs from the privileged expert's trajectories drawn with
   training seeds (``data/expert-practice``; the evaluation's tasks come from other seeds), goals
   ``eval.goal_steps`` ahead, as the evaluation does;
2. plans toward them with the current world model (CEM ``practice.samples`` x ``practice.iterations``,
   the evaluation's horizon and replanning) and executes the plans in the environment for
   ``eval.budget_steps`` steps, recording frames, actions and true states (:class:`RecordingWorld`);
3. trains ``practice.steps`` steps on batches drawn ``practice.fraction`` from all practice episodes
   so far and the rest from the training data.

Only frames and actions train the model (no reward, no expert action): the expert provides where the
goals are, as it does for evaluation. The fraction of plans that reached their goal before each
round's training is reported (``practice/plans_reaching_goal``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np
import torch

from hjepa.control.episodes import run_episodes
from hjepa.control.latent import LatentMPC
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import make_planner
from hjepa.control.worlds import PixelObservation, PixelWorld
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.data.goal_tasks import sample_goal_tasks
from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import MixedWindowSampler
from hjepa.envs.adapters.batch import PixelEnvBatch
from hjepa.envs.adapters.catalog import EnvFunctions
from hjepa.envs.tasks import Tasks
from hjepa.recipes.gym_config import GymJob, plan_with_budget, window_sampler
from hjepa.runs.resume import ResumePoint
from hjepa.runs.run_dir import RunDir
from hjepa.world.train import TrainResult, train_world_model

PRACTICE_TASK_SEED = 300_000
"""Round ``r`` cuts its tasks with seed ``job.seed + PRACTICE_TASK_SEED + r``."""


class RecordingWorld:
    """A :class:`PixelWorld` that keeps what happened: the newest frame and the true state after
    every step and the environment action taken, for every copy (episodes never stop early there).

    ``trajectories(meta)`` returns them as :class:`Trajectories`: frames ``(N, T+1, C, H, W)``
    uint8, actions ``(N, T, A)``, states ``(N, T+1, S)``.
    """

    def __init__(self, world: PixelWorld) -> None:
        self.world = world
        self.stop_on_success = world.stop_on_success
        self.check_every_step = world.check_every_step
        self._frames: list[np.ndarray] = []
        self._actions: list[np.ndarray] = []
        self._states: list[np.ndarray] = []

    def _keep(self) -> None:
        c = self.world.batch.spec.obs_shape[0]
        self._frames.append(np.array(self.world.obs[:, -c:]))
        self._states.append(self.world.batch.states())

    def reset(self, tasks: Tasks) -> None:
        self.world.reset(tasks)
        self._frames, self._actions, self._states = [], [], []
        self._keep()

    def observe(self) -> PixelObservation:
        return self.world.observe()

    def step(self, action: np.ndarray, rows: torch.Tensor, frozen: torch.Tensor, substep: int) -> None:
        self.world.step(action, rows, frozen, substep)
        self._actions.append(np.asarray(action[:, substep], dtype=np.float32))
        self._keep()

    def success(self) -> torch.Tensor:
        return self.world.success()

    def state(self) -> torch.Tensor:
        return self.world.state()

    def distances(self) -> dict[str, torch.Tensor]:
        return self.world.distances()

    def frames(self, episodes: int) -> list[np.ndarray]:
        return self.world.frames(episodes)

    def trajectories(self, meta: dict) -> Trajectories:
        """Everything recorded since the last reset (at least one step)."""
        return Trajectories.from_arrays({"frames": np.stack(self._frames, 1), "actions": np.stack(self._actions, 1),
                                         "states": np.stack(self._states, 1)}, meta)


def practice_meta(job: GymJob, spec, round_index: int) -> dict:
    """What made a round's episodes (stored beside them): the environment and the planner."""
    p = job.practice
    return {"env": spec.to_dict(), "seed": job.seed + PRACTICE_TASK_SEED + round_index,
            "policy": {"name": "practice", "params": {
                "planner": job.plan.planner, "samples": p.samples, "iterations": p.iterations,
                "horizon": job.plan.horizon, "frameskip": job.model.frameskip,
                "goals": f"expert-practice states {job.eval.goal_steps} steps ahead"}}}


def practice_round_episodes(job: GymJob, functions: EnvFunctions, spec, model, action_scale: np.ndarray,
                            proprio: Callable | None, expert: Trajectories, round_index: int) -> tuple[Trajectories, float]:
    """One round's planned episodes with the current ``model``; returns them and the fraction of plans
    that reached their goal (the environment's own success test, at any step)."""
    p, frame_stack, frameskip = job.practice, job.model.frame_stack, job.model.frameskip
    seed = job.seed + PRACTICE_TASK_SEED + round_index
    tasks = sample_goal_tasks(expert, p.tasks, job.eval.goal_steps, frame_stack, seed)
    plan = plan_with_budget(job.plan, p.samples, p.iterations)
    plan_dim = spec.action_dim * (1 if job.plan.hold else frameskip)
    mpc = ModelPredictiveController(make_planner(plan, plan_dim, job.plan.max_action), job.plan.horizon, frameskip,
                                    torch.Generator().manual_seed(seed))
    cost = IntrinsicCost(squared=True, reduce_min=job.plan.min_over_horizon)
    controller = LatentMPC(model, mpc, cost, action_scale, frameskip, job.plan.hold, proprio)
    batch = PixelEnvBatch(lambda: functions.make(job.size), p.tasks, frame_stack)
    try:
        world = RecordingWorld(PixelWorld(batch, functions.success, functions.distances, proprio))
        model.eval()
        budget = -(-job.eval.budget_steps // frameskip) * frameskip
        result = run_episodes(world, controller, tasks, budget, progress=job.progress, desc=f"practice plans {round_index + 1}")
        episodes = world.trajectories(practice_meta(job, spec, round_index))
    finally:
        batch.close()
    return episodes, float(result.success.float().mean())


def practise(job: GymJob, functions: EnvFunctions, spec, model, inverse_dynamics, train_data: Trajectories,
             expert: Trajectories, action_scale: np.ndarray, proprio: Callable | None, generator: torch.Generator,
             diagnose, run, first_step: int, done: list[Trajectories], reached: list[float],
             after_round: Callable[[int, list[Trajectories], list[float]], None]) -> TrainResult | None:
    """Rounds ``len(done)`` .. ``practice.rounds - 1`` (``done``: the episodes of rounds already run, e.g.
    when resuming; ``reached`` their plans' success); ``after_round(r, episodes, reached)`` is called
    after each round's training (to save a resume point). Returns the last round's training result
    (None if no round was left)."""
    p = job.practice
    steps = dataclasses.replace(job.train, steps=p.steps, lr=p.lr, warmup_steps=min(20, p.steps), eval_every=p.steps)
    explore = window_sampler(job, functions, action_scale, train_data)
    episodes, result = list(done), None
    for r in range(len(episodes), p.rounds):
        new, hit = practice_round_episodes(job, functions, spec, model, action_scale, proprio, expert, r)
        episodes.append(new)
        reached.append(hit)
        if run is not None:
            run.log({"practice/round": r + 1, "practice/plans_reaching_goal": hit}, step=first_step + r * p.steps)
        practice = window_sampler(job, functions, action_scale, Trajectories.concat(episodes))
        mixed = MixedWindowSampler([explore, practice], [1.0 - p.fraction, p.fraction])
        result = train_world_model(model, inverse_dynamics, mixed, job.loss, steps, generator, diagnose=diagnose, run=run,
                                   show_progress=job.progress, step_offset=first_step + r * p.steps,
                                   desc=f"practice {r + 1}/{p.rounds}")
        after_round(r, episodes, reached)
    return result


def practice_stage(job: GymJob, functions: EnvFunctions, spec, action_scale: np.ndarray, run: RunDir, point: ResumePoint,
                   stage: str | None, state: dict, model, inverse_dynamics, train_data: Trajectories, expert: Trajectories,
                   proprio: Callable | None, generator: torch.Generator, diagnose, first_step: int) -> tuple[dict, dict]:
    """The practice rounds (:mod:`hjepa.recipes.gym_practice`), resumed after the last finished round when
    ``stage`` is 'practice'; each round's episodes are kept in ``data/practice-<r>``. Returns the last
    diagnostics and the practice summary (rounds, steps, episodes, plans_reaching_goal, the planner, and
    the wall-clock seconds of this process's part: a resumed run counts only the rounds it ran)."""
    clock = time.perf_counter()
    done, reached = [], []
    if stage == "practice":
        model.load_state_dict(state["model"])
        inverse_dynamics.load_state_dict(state["inverse_dynamics"])
        reached = list(state["reached"])
        done = [Trajectories.load(run.path(f"data/practice-{r}")) for r in range(int(state["round"]))]
    else:  # training is over: a resumed run starts here, not from the training's last checkpoint
        point.save("practice", {"round": 0, "reached": [], "model": model.state_dict(),
                                "inverse_dynamics": inverse_dynamics.state_dict()})

    def after_round(r: int, episodes: list[Trajectories], hits: list[float]) -> None:
        episodes[r].save(run.path(f"data/practice-{r}"), overwrite=True)
        point.save("practice", {"round": r + 1, "reached": hits, "model": model.state_dict(),
                                "inverse_dynamics": inverse_dynamics.state_dict()})

    result = practise(job, functions, spec, model, inverse_dynamics, train_data, expert, action_scale, proprio, generator,
                      diagnose, run, first_step, done, reached, after_round)
    diagnostics = result.diagnostics if result is not None else diagnose(model, torch.Generator().manual_seed(job.seed))
    p = job.practice
    return diagnostics, {"rounds": p.rounds, "steps": p.rounds * p.steps, "episodes": p.rounds * p.tasks,
                         "plans_reaching_goal": reached, "seconds": time.perf_counter() - clock,
                         "planner": f"{job.plan.planner.upper()} {p.samples} x {p.iterations}"}


