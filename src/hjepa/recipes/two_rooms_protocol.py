"""Two Rooms on stable-worldmodel's protocol (``--eval.protocol stable-wm``), beside our own
cross-room tasks.

1. expert trajectories: the true simulator + MPPI drives the agent from a random room to a random
   goal in the other room of a random layout (:mod:`hjepa.control.two_rooms_expert`), saved as
   ``data/expert-<split>`` and labelled privileged in their metadata;
2. tasks: one per trajectory, start at a step ``t`` with at least ``goal_steps`` steps after it,
   goal the trajectory's state ``goal_steps`` later (:mod:`hjepa.data.trajectory_tasks`);
3. every controller runs ``budget_steps`` environment steps without stopping at success; success is
   the environment's own test (within ``success_radius``) the first time it holds and at the end.

Planner: CEM 300 samples x 30 iterations, top 30, horizon 5 planner steps, a new plan every planner
step (stable-worldmodel's); a planner step is ``frameskip`` = 4 environment steps here (5 there).
"""

from __future__ import annotations

import dataclasses

from hjepa.control.episodes import EpisodeResult
from hjepa.control.plan_config import PlanConfig
from hjepa.control.two_rooms_expert import expert_trajectories
from hjepa.control.worlds import PositionWorld
from hjepa.data.trajectories import Trajectories
from hjepa.data.trajectory_tasks import cut_goal_tasks, usable_episodes
from hjepa.envs.tasks import Tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError
from hjepa.nn.linear_probe import LinearProbe
from hjepa.recipes.two_rooms_config import BAND_DRAWS, TwoRoomsJob
from hjepa.recipes.two_rooms_eval import evaluate_two_rooms
from hjepa.runs.run_dir import RunDir
from hjepa.world.model import JEPAWorldModel

STABLE_WM_PLAN = PlanConfig(planner="cem", horizon=5, samples=300, iterations=30, elites=30, replan_every=1)
"""stable-worldmodel's CEM budget; used when the job's plan.* options are all left at their defaults."""
SPLIT_SEED = {"validation": 20_000, "test": 30_000}
"""Added to eval.seed: the seed of each split's expert trajectories (+1: the planner's randomness, +2: the
steps t; the controllers' seeds follow as in the cross-room evaluation)."""
EXPERT_STEPS = 120
"""Longest expert trajectory (environment steps); its simulator MPPI crosses in 30-60 steps."""


def protocol_defaults(job: TwoRoomsJob) -> TwoRoomsJob:
    """With ``eval.protocol stable-wm`` and plan.* left at the defaults: the protocol's CEM. Refuses
    goal steps the expert trajectories cannot hold (before a run directory is made)."""
    if job.eval.protocol == "stable-wm" and job.eval.goal_steps >= EXPERT_STEPS:
        raise InputError(f"eval.goal_steps must be below the expert trajectories' {EXPERT_STEPS} steps, got {job.eval.goal_steps}")
    if job.eval.protocol == "stable-wm" and job.plan == PlanConfig():
        return dataclasses.replace(job, plan=STABLE_WM_PLAN)
    return job


def split_seed(job: TwoRoomsJob) -> int:
    return job.eval.seed + SPLIT_SEED[job.eval.split]


def expert_tasks(job: TwoRoomsJob, env: TwoRooms, frameskip: int, run: RunDir) -> tuple[Tasks, Trajectories]:
    """The split's tasks and the expert trajectories they were cut from (also saved in the run)."""
    seed, n = split_seed(job), job.eval.episodes
    count = 2 * n + 8  # about two in three trajectories have 25 steps before the expert arrives
    for _ in range(BAND_DRAWS):
        expert = expert_trajectories(env, count, EXPERT_STEPS, seed, frameskip)
        if len(usable_episodes(expert, job.eval.goal_steps)) >= n:
            break
        count *= 2  # short: draw again from the same seed, twice as many
    tasks = cut_goal_tasks(expert, n, job.eval.goal_steps, seed + 2)
    expert.save(run.path(f"data/expert-{job.eval.split}"), meta={**expert.meta, "goal_steps": job.eval.goal_steps})
    return tasks, expert


def evaluate_stable_wm(job: TwoRoomsJob, env: TwoRooms, model: JEPAWorldModel, probe: LinearProbe | None,
                       frameskip: int, tasks: Tasks) -> dict[str, EpisodeResult]:
    """Every controller on the tasks for ``eval.budget_steps`` steps, never stopping at success."""
    job = dataclasses.replace(job, eval=dataclasses.replace(job.eval, seed=split_seed(job)))
    world = PositionWorld(env, stop_on_success=False)
    return evaluate_two_rooms(job, env, model, probe, frameskip, tasks, world=world, max_steps=job.eval.budget_steps)


def protocol_summary(job: TwoRoomsJob, expert: Trajectories | None) -> dict:
    """What summary.json records about the protocol."""
    if expert is None:
        return {"protocol": job.eval.protocol}
    return {"protocol": job.eval.protocol, "split": job.eval.split, "task_seed": split_seed(job),
            "goal_steps": job.eval.goal_steps, "budget_steps": job.eval.budget_steps,
            "expert_trajectories": len(expert), "expert_reached_goal": expert.meta["reached_goal"],
            "expert_policy": expert.meta["policy"]["name"]}
