"""`hjepa two-rooms`, the main job: learn a JEPA world model of Two Rooms from reward-free
observation, then plan through the door in representation space.

Stages:
    1. collect  — reward-free random walks, stored in the chunked trajectory format
                  (:mod:`hjepa.recipes.collect`);
    2. train    — the JEPA world model (encoder + action-conditioned predictor) with VICReg-style
                  regularisation, inverse dynamics and held-out diagnostics, then practice rounds
                  (:mod:`hjepa.recipes.two_rooms_training`);
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
from hjepa.recipes.run_options import apply_threads, open_run, resolve_device
from hjepa.recipes.two_rooms_config import (
    TwoRoomsJob,
    evaluation_layout_bands,
    fixed_layout_defaults,
    make_env,
)
from hjepa.recipes.two_rooms_eval import evaluate_two_rooms
from hjepa.recipes.two_rooms_protocol import evaluate_stable_wm, expert_tasks, protocol_defaults, protocol_summary
from hjepa.recipes.two_rooms_report import write_two_rooms_outputs
from hjepa.recipes.two_rooms_training import build_sampler, learn_two_rooms
from hjepa.runs.resume import ResumePoint
from hjepa.world.checkpoint import checkpoint_state, load_world_checkpoint


def run_two_rooms(job: TwoRoomsJob) -> dict:
    """The whole job; returns the summary also written to ``runs/<name>/summary.json``.

    ``job.dataset`` reuses a stored dataset instead of collecting; ``job.checkpoint`` reuses a trained
    world model instead of training (then no training curves are drawn).
    """
    dataset_path, checkpoint = job.dataset, job.checkpoint
    t_start = time.perf_counter()
    job = dataclasses.replace(protocol_defaults(fixed_layout_defaults(job)), device=str(resolve_device(job.device)))
    job = dataclasses.replace(job, env=dataclasses.replace(job.env, fixed_layout=job.layout == "fixed"))
    apply_threads(job.threads)
    # Read the given inputs first, so a missing or corrupt file is refused before a run directory
    # is created (a half-made run would block rerunning the same --name).
    t0 = time.perf_counter()
    stored_dataset = Trajectories.load(dataset_path) if dataset_path is not None else None
    load_seconds = time.perf_counter() - t0
    stored_model = load_world_checkpoint(checkpoint, "two-rooms") if checkpoint is not None else None
    if stored_model is not None:  # its own architecture pools and cuts the windows, not the --model.* options
        job = dataclasses.replace(job, model=stored_model.config)
    if stored_model is None and job.practice.rounds > 0 and job.plan.horizon < job.train.window:
        raise InputError(
            f"practice episodes last plan.horizon={job.plan.horizon} macro steps, shorter than a training window "
            f"(train.window={job.train.window}): raise --plan.horizon, lower --train.window, or set --practice.rounds 0"
        )
    run = open_run(job, "two-rooms")
    env = make_env(job)
    bf16 = resolve_bf16(job.precision)
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)
    point = ResumePoint(run, {"train": generator})
    saved = point.load() if job.resume else None

    # 1. data ---------------------------------------------------------------------------------
    t0 = time.perf_counter()
    if stored_dataset is not None:
        dataset = stored_dataset
        data_source = str(dataset_path)
    else:
        dataset = collect_walks(job, env, job.seed, job.data.episodes)  # the same walks again when resuming
        if not run.path("data").exists():
            dataset.save(run.path("data"), meta=dataset_meta(job, env, job.seed))
        data_source = str(run.path("data"))
    heldout = collect_walks(job, env, job.seed + 1, job.data.heldout_episodes)
    data_seconds = time.perf_counter() - t0 + load_seconds

    # 2. world model (and practice) ----------------------------------------------------------
    t0 = time.perf_counter()
    if stored_model is not None:
        model, model_config = stored_model.model.to(job.device), stored_model.config
        diagnose = HeldOutDiagnostics(build_sampler(heldout, env, job), job.train.eval_windows, bf16)
        diagnostics = diagnose(model, torch.Generator().manual_seed(job.seed))
        probe, train_steps, practice = diagnose.probe, 0, {"rounds": 0}
    else:
        learned = learn_two_rooms(job, env, dataset, heldout, generator, run, bf16, point, saved)
        model, model_config, probe = learned.model, job.model, learned.probe
        diagnostics, train_steps, practice = learned.diagnostics, learned.train_steps, learned.practice
        run.save_checkpoint("world_model", checkpoint_state("two-rooms", model, model_config, learned.inverse_dynamics, probe))
    # Pushed open loop into solid wall, does the model stop the agent? (decoded without a probe)
    push = wall_push_check(model, env, generator=torch.Generator().manual_seed(job.seed + 7))
    diagnostics = {**diagnostics, **{f"push_{k}": v for k, v in push.items()}}
    train_seconds = time.perf_counter() - t0

    # 3. planning -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    expert = None
    if job.eval.protocol == "stable-wm":
        tasks, expert = expert_tasks(job, env, model_config.frameskip, run)
        results = evaluate_stable_wm(job, env, model, probe, model_config.frameskip, tasks)
    else:
        eval_wall_choices, eval_door_range = evaluation_layout_bands(job.eval)
        tasks = sample_two_rooms_tasks(env, job.eval.episodes, job.eval.seed, eval_wall_choices, eval_door_range)
        results = evaluate_two_rooms(job, env, model, probe, model_config.frameskip, tasks)
    eval_seconds = time.perf_counter() - t0

    # 4. report -------------------------------------------------------------------------------
    timing = {"train_seconds": train_seconds, "data_seconds": data_seconds, "eval_seconds": eval_seconds,
              "total_seconds": time.perf_counter() - t_start}
    return write_two_rooms_outputs(run, job, env, tasks, results, diagnostics, timing, train_steps, practice,
                                   len(dataset), bf16, data_source, protocol_summary(job, expert))


@dataclass(frozen=True)
class TwoRoomsCommand:
    """Collect reward-free data, train a JEPA world model, plan through the door, and report."""

    job: Annotated[TwoRoomsJob, tyro.conf.arg(name="")] = field(default_factory=TwoRoomsJob)

    def run(self) -> dict:
        return run_two_rooms(self.job)
