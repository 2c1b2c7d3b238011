"""Practice after training (Two Rooms): plan toward practice goals with the model, execute the plans
in the environment and train on what really happened (observations and actions only, no reward;
see :mod:`hjepa.agent.practice`). It teaches the model the places where its plans fooled it."""

from __future__ import annotations

import dataclasses

import torch

from hjepa.agent.practice import practice_episodes
from hjepa.control.plan_config import make_planner
from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import MixedWindowSampler, RenderedFrames, WindowSampler
from hjepa.envs.tasks import Tasks, sample_two_rooms_tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError
from hjepa.eval.world_diagnostics import HeldOutDiagnostics
from hjepa.nn.linear_probe import LinearProbe
from hjepa.recipes.two_rooms_config import TwoRoomsJob, training_wall_choices
from hjepa.runs.run_dir import RunDir
from hjepa.world.train import TrainResult, train_world_model

PRACTICE_SEED = 100_000
"""Practice round ``r`` draws its tasks from seed ``job.seed + PRACTICE_SEED + r``."""


def build_sampler(dataset: Trajectories, env: TwoRooms, job: TwoRoomsJob) -> WindowSampler:
    return WindowSampler(dataset, RenderedFrames(env, dataset, job.model.obs_pool), job.train.window, job.model.frameskip)


def practice_meta(job: TwoRoomsJob, env: TwoRooms) -> dict:
    """Metadata stored beside the practice episodes: what made them (see hjepa.agent.practice)."""
    return {
        "env": {"name": "two_rooms", "config": dataclasses.asdict(env.config)},
        "policy": {"name": "practice", "params": {
            "planner": job.plan.planner, "horizon": job.plan.horizon, "samples": job.plan.samples,
            "iterations": job.plan.iterations, "max_action": job.plan.max_action,
            "frameskip": job.model.frameskip, "execution": "open loop"}},
        "seed": job.seed + PRACTICE_SEED,
        "rounds": job.practice.rounds,
        "tasks_per_round": job.practice.tasks,
    }


def practice_tasks(job: TwoRoomsJob, env: TwoRooms, n: int, seed: int) -> Tasks:
    """``n`` cross-room practice tasks on layouts the training data may hold (held-out bands excluded)."""
    if seed == job.eval.seed:
        raise InputError(f"practice seed {seed} equals the evaluation seed: change --seed or --eval.seed")
    wall_choices, _ = training_wall_choices(env, job.data)
    if job.data.door_band is None:
        return sample_two_rooms_tasks(env, n, seed, wall_choices)
    lo, hi = job.data.door_band
    drawn = sample_two_rooms_tasks(env, 4 * n + 16, seed, wall_choices)
    keep = ((drawn.layout.door_y < lo) | (drawn.layout.door_y > hi)).nonzero().squeeze(-1)[:n]
    if len(keep) < n:
        raise InputError(f"data.door_band {job.data.door_band} leaves too few door positions for practice tasks")
    return drawn.index(keep)


def practise(
    job: TwoRoomsJob, env: TwoRooms, model, inverse_dynamics, dataset: Trajectories,
    heldout: Trajectories, generator: torch.Generator, run: RunDir, bf16: bool, first_step: int,
) -> tuple[TrainResult, LinearProbe, Trajectories, list[float]]:
    """Practice rounds (see :class:`~hjepa.recipes.two_rooms_config.PracticeConfig`): returns the last
    round's training result and probe, all practice episodes, and per round the fraction of plans that
    reached their goal when executed (before the round's training)."""
    config = job.practice
    explore = build_sampler(dataset, env, job)
    diagnose = HeldOutDiagnostics(build_sampler(heldout, env, job), job.train.eval_windows, bf16)
    planner = make_planner(job.plan, 2, min(job.plan.max_action, env.config.max_step))
    steps = dataclasses.replace(
        job.train, steps=config.steps, lr=config.lr, warmup_steps=min(20, config.steps), eval_every=config.steps
    )
    episodes: list[Trajectories] = []
    reached: list[float] = []
    result: TrainResult | None = None
    for r in range(config.rounds):
        tasks = practice_tasks(job, env, config.tasks, job.seed + PRACTICE_SEED + r)
        model.eval()
        new = practice_episodes(
            env, model, planner, job.plan.horizon, job.model.frameskip, job.plan.max_action,
            tasks.start, tasks.goal, tasks.layout, generator, bf16=bf16 and str(job.device) == "cpu",
        )
        hit = (new.positions - tasks.goal[:, None]).norm(dim=-1) <= env.config.success_radius
        reached.append(float(hit.any(1).float().mean()))
        run.log({"practice/round": r + 1, "practice/plans_reaching_goal": reached[-1]}, step=first_step + r * config.steps)
        episodes.append(new)
        practice = build_sampler(Trajectories.concat(episodes), env, job)
        mixed = MixedWindowSampler([explore, practice], [1.0 - config.fraction, config.fraction])
        result = train_world_model(
            model, inverse_dynamics, mixed, job.loss, steps, generator, diagnose=diagnose, run=run, bf16=bf16,
            show_progress=job.progress, step_offset=first_step + r * config.steps,
            desc=f"practice {r + 1}/{config.rounds}",
        )
    assert result is not None and diagnose.probe is not None
    return result, diagnose.probe, Trajectories.concat(episodes), reached
