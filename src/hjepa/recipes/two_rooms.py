"""`hjepa two-rooms`, the main job: learn a JEPA world model of Two Rooms from reward-free
observation, then plan through the door in representation space.

Stages:
    1. collect  — reward-free random walks, stored in the chunked trajectory format
                  (:mod:`hjepa.recipes.collect`);
    2. train    — the JEPA world model (encoder + action-conditioned predictor) with VICReg-style
                  regularisation, inverse dynamics and held-out diagnostics, then practice rounds
                  (:mod:`hjepa.recipes.two_rooms_practice`);
    3. evaluate — Mode-2 model-predictive control on cross-room tasks from seeds never used for
                  data, beside two baselines: random actions and the same planner driving the
                  true simulator (:mod:`hjepa.recipes.two_rooms_eval`);
    4. report   — plots, a GIF, report.md and summary.json in ``runs/<name>/``
                  (:mod:`hjepa.recipes.two_rooms_report`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Annotated

import torch
import tyro

from hjepa.data.trajectories import Trajectories
from hjepa.envs.tasks import sample_two_rooms_tasks
from hjepa.errors import InputError
from hjepa.eval.wall_push import wall_push_check
from hjepa.eval.world_diagnostics import HeldOutDiagnostics
from hjepa.nn.precision import resolve_bf16
from hjepa.recipes.collect import collect_walks, dataset_meta
from hjepa.recipes.run_options import apply_threads, resolve_device
from hjepa.recipes.two_rooms_config import (
    TwoRoomsJob,
    evaluation_layout_bands,
    fixed_layout_defaults,
    make_env,
    train_config,
)
from hjepa.recipes.two_rooms_eval import evaluate_two_rooms
from hjepa.recipes.two_rooms_practice import build_sampler, practice_meta, practise
from hjepa.recipes.two_rooms_report import write_two_rooms_outputs
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import build_world_model
from hjepa.world.checkpoint import checkpoint_state, load_world_checkpoint
from hjepa.world.train import train_world_model


def run_two_rooms(job: TwoRoomsJob) -> dict:
    """The whole job; returns the summary also written to ``runs/<name>/summary.json``.

    ``job.dataset`` reuses a stored dataset instead of collecting; ``job.checkpoint`` reuses a trained
    world model instead of training (then no training curves are drawn).
    """
    dataset_path, checkpoint = job.dataset, job.checkpoint
    t_start = time.perf_counter()
    job = dataclasses.replace(fixed_layout_defaults(job), device=str(resolve_device(job.device)))
    job = dataclasses.replace(job, env=dataclasses.replace(job.env, fixed_layout=job.layout == "fixed"))
    apply_threads(job.threads)
    # Read the given inputs first, so a missing or corrupt file is refused before a run directory
    # is created (a half-made run would block rerunning the same --name).
    t0 = time.perf_counter()
    stored_dataset = Trajectories.load(dataset_path) if dataset_path is not None else None
    load_seconds = time.perf_counter() - t0
    stored_model = load_world_checkpoint(checkpoint, "two-rooms") if checkpoint is not None else None
    if stored_model is None and job.practice.rounds > 0 and job.plan.horizon < job.train.window:
        raise InputError(
            f"practice episodes last plan.horizon={job.plan.horizon} macro steps, shorter than a training window "
            f"(train.window={job.train.window}): raise --plan.horizon, lower --train.window, or set --practice.rounds 0"
        )
    run = RunDir.create(job.runs_root, job.name, overwrite=job.overwrite)
    run.write_config(job, "two-rooms")
    env = make_env(job)
    bf16 = resolve_bf16(job.precision)
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)

    # 1. data ---------------------------------------------------------------------------------
    t0 = time.perf_counter()
    if stored_dataset is not None:
        dataset = stored_dataset
        data_source = str(dataset_path)
    else:
        dataset = collect_walks(job, env, job.seed, job.data.episodes)
        dataset.save(run.path("data"), meta=dataset_meta(job, env, job.seed))
        data_source = str(run.path("data"))
    heldout = collect_walks(job, env, job.seed + 1, job.data.heldout_episodes)
    data_seconds = time.perf_counter() - t0 + load_seconds

    # 2. world model (and practice) ----------------------------------------------------------
    t0 = time.perf_counter()
    practice: dict = {"rounds": 0}
    diagnose = HeldOutDiagnostics(build_sampler(heldout, env, job), job.train.eval_windows, bf16)
    if stored_model is not None:
        model, model_config = stored_model.model.to(job.device), stored_model.config
        diagnostics = diagnose(model, torch.Generator().manual_seed(job.seed))
        probe, train_steps = diagnose.probe, 0
    else:
        model_config = job.model
        model, inverse_dynamics = build_world_model(model_config)
        model.to(job.device)
        inverse_dynamics.to(job.device)
        result = train_world_model(
            model, inverse_dynamics, build_sampler(dataset, env, job), job.loss, train_config(job), generator,
            diagnose=diagnose, run=run, bf16=bf16, show_progress=job.progress,
        )
        diagnostics, probe, train_steps = result.diagnostics, diagnose.probe, result.steps
        if job.practice.rounds > 0:
            t_practice = time.perf_counter()
            result, probe, practice_data, practice_reached = practise(
                job, env, model, inverse_dynamics, dataset, heldout, generator, run, bf16, first_step=train_steps
            )
            diagnostics = result.diagnostics
            practice = {"rounds": job.practice.rounds, "steps": job.practice.rounds * job.practice.steps,
                        "episodes": len(practice_data), "plans_reaching_goal": practice_reached,
                        "seconds": time.perf_counter() - t_practice}
            practice_data.save(run.path("practice"), meta=practice_meta(job, env))
        run.save_checkpoint("world_model", checkpoint_state("two-rooms", model, model_config, inverse_dynamics, probe))
    # Pushed open loop into solid wall, does the model stop the agent? (decoded without a probe)
    push = wall_push_check(model, env, generator=torch.Generator().manual_seed(job.seed + 7))
    diagnostics = {**diagnostics, **{f"push_{k}": v for k, v in push.items()}}
    train_seconds = time.perf_counter() - t0

    # 3. planning -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    eval_wall_choices, eval_door_range = evaluation_layout_bands(job.eval)
    tasks = sample_two_rooms_tasks(env, job.eval.episodes, job.eval.seed, eval_wall_choices, eval_door_range)
    results = evaluate_two_rooms(job, env, model, probe, model_config.frameskip, tasks)
    eval_seconds = time.perf_counter() - t0

    # 4. report -------------------------------------------------------------------------------
    timing = {"train_seconds": train_seconds, "data_seconds": data_seconds, "eval_seconds": eval_seconds,
              "total_seconds": time.perf_counter() - t_start}
    return write_two_rooms_outputs(run, job, env, tasks, results, diagnostics, timing, train_steps, practice,
                                   len(dataset), bf16, data_source)


@dataclass(frozen=True)
class TwoRoomsCommand:
    """Collect reward-free data, train a JEPA world model, plan through the door, and report."""

    job: Annotated[TwoRoomsJob, tyro.conf.arg(name="")] = field(default_factory=TwoRoomsJob)

    def run(self) -> dict:
        return run_two_rooms(self.job)
