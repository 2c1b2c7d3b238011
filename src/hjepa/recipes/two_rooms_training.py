"""Training and practice of the Two Rooms world model. Practice after training: plan toward practice goals with the model, execute the plans
in the environment and train on what really happened (observations and actions only, no reward;
see :mod:`hjepa.agent.practice`). It teaches the model the places where its plans fooled it."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from torch import nn

from hjepa.agent.practice import practice_episodes
from hjepa.control.plan_config import make_planner
from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import MixedWindowSampler, RenderedFrames, WindowSampler
from hjepa.envs.tasks import Tasks, sample_two_rooms_tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError
from hjepa.eval.world_diagnostics import HeldOutDiagnostics
from hjepa.nn.linear_probe import LinearProbe
from hjepa.recipes.two_rooms_config import BAND_DRAWS, TwoRoomsJob, train_config, training_wall_choices
from hjepa.runs.resume import ResumePoint
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import build_world_model
from hjepa.world.model import JEPAWorldModel
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
    count = 4 * n + 16
    for _ in range(BAND_DRAWS):
        drawn = sample_two_rooms_tasks(env, count, seed, wall_choices)
        keep = ((drawn.layout.door_y < lo) | (drawn.layout.door_y > hi)).nonzero().squeeze(-1)
        if len(keep) >= n:
            return drawn.index(keep[:n])
        count *= 2  # short: draw again from the same seed, twice as many
    raise InputError(f"data.door_band {job.data.door_band} leaves too few door positions for practice tasks")


def practise(
    job: TwoRoomsJob, env: TwoRooms, model, inverse_dynamics, dataset: Trajectories,
    heldout: Trajectories, generator: torch.Generator, run: RunDir, bf16: bool, first_step: int,
    point: ResumePoint | None = None, resumed: tuple[dict, dict] | None = None,
) -> tuple[TrainResult, LinearProbe, Trajectories, list[float]]:
    """Practice rounds (see :class:`~hjepa.recipes.two_rooms_config.PracticeConfig`): returns the last
    round's training result and probe, all practice episodes, and per round the fraction of plans that
    reached their goal when executed (before the round's training).

    ``point`` saves a resume state (stage ``practice``) when a round starts and inside its training;
    ``resumed`` is ``(state, rng)`` of such a state: the rounds continue from there."""
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
    first_round, inner = 0, None
    if resumed is not None and point is not None:
        state, rng = resumed
        first_round, inner, reached = int(state["round"]), state["train"], list(state["reached"])
        episodes = [Trajectories.from_arrays(arrays) for arrays in state["episodes"]]
        if inner is None:  # at a round's start; inside its training the weights come with ``inner``
            model.load_state_dict(state["model"])
            inverse_dynamics.load_state_dict(state["inverse_dynamics"])
        point.restore_rng(rng)

    def save(r: int, train: dict | None) -> None:
        if point is not None:
            weights = {} if train is not None else {"model": model.state_dict(), "inverse_dynamics": inverse_dynamics.state_dict()}
            point.save("practice", {"round": r, "train": train, "reached": reached,
                                    "episodes": [e.to_arrays() for e in episodes], **weights})

    for r in range(first_round, config.rounds):
        if inner is None:  # the round starts: plan, then execute the plans in the world
            save(r, None)
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
            desc=f"practice {r + 1}/{config.rounds}", checkpoint=lambda train, r=r: save(r, train), resume=inner,
        )
        inner = None
    assert result is not None and diagnose.probe is not None
    return result, diagnose.probe, Trajectories.concat(episodes), reached


@dataclass
class Learned:
    """What the training stages leave: the world model and its inverse-dynamics head, the (x, y)
    probe, the last held-out diagnostics, the training steps and a summary of practice."""

    model: JEPAWorldModel
    inverse_dynamics: nn.Module
    probe: LinearProbe
    diagnostics: dict
    train_steps: int
    practice: dict


def learn_two_rooms(job: TwoRoomsJob, env: TwoRooms, dataset: Trajectories, heldout: Trajectories,
                    generator: torch.Generator, run: RunDir, bf16: bool, point: ResumePoint,
                    saved: tuple[str, dict, dict] | None) -> Learned:
    """Train the world model, then practise; ``saved`` (``point.load()``) continues an interrupted run.

    Resume points: stage ``train`` inside the first training, ``practice`` at each round's start and
    inside its training, ``trained`` when both are done (the eval stage then starts from it)."""
    model, inverse_dynamics = build_world_model(job.model)
    model.to(job.device)
    inverse_dynamics.to(job.device)
    stage, state, rng = saved if saved is not None else (None, {}, {})
    if stage == "trained":
        model.load_state_dict(state["model"])
        inverse_dynamics.load_state_dict(state["inverse_dynamics"])
        point.restore_rng(rng)
        return Learned(model, inverse_dynamics, LinearProbe.from_state_dict(state["probe"]), state["diagnostics"],
                       int(state["train_steps"]), state["practice"])
    diagnose = HeldOutDiagnostics(build_sampler(heldout, env, job), job.train.eval_windows, bf16)
    steps = train_config(job).steps
    resumed_practice = None
    if stage == "practice":
        resumed_practice = (state, rng)
    else:
        if stage == "train":
            point.restore_rng(rng)
        result = train_world_model(
            model, inverse_dynamics, build_sampler(dataset, env, job), job.loss, train_config(job), generator,
            diagnose=diagnose, run=run, bf16=bf16, show_progress=job.progress,
            checkpoint=lambda train: point.save("train", {"train": train}), resume=state.get("train"),
        )
        diagnostics, probe = result.diagnostics, diagnose.probe
    practice: dict = {"rounds": 0}
    if job.practice.rounds > 0:
        t_practice = time.perf_counter()
        result, probe, practice_data, reached = practise(job, env, model, inverse_dynamics, dataset, heldout, generator,
                                                          run, bf16, first_step=steps, point=point, resumed=resumed_practice)
        diagnostics = result.diagnostics
        practice = {"rounds": job.practice.rounds, "steps": job.practice.rounds * job.practice.steps,
                    "episodes": len(practice_data), "plans_reaching_goal": reached,
                    "seconds": time.perf_counter() - t_practice}
        if not run.path("practice").exists():
            practice_data.save(run.path("practice"), meta=practice_meta(job, env))
    point.save("trained", {"model": model.state_dict(), "inverse_dynamics": inverse_dynamics.state_dict(),
                           "probe": probe.state_dict(), "diagnostics": diagnostics, "train_steps": steps,
                           "practice": practice})
    return Learned(model, inverse_dynamics, probe, diagnostics, steps, practice)
