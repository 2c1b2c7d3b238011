"""The external-environment job: PushT, PointMaze, Pendulum, reacher or cube from pixels, end to end.

Stages, as in ``hjepa two-rooms``:
    1. collect  — reward-free exploration (docs/environments.md) into ``hjepa.trajectories``
                  datasets: ``data/train`` and, from another seed, ``data/heldout``;
    2. train    — the JEPA world model of ``hjepa.world`` (encoder + action-conditioned predictor,
                  VICReg variance/covariance, smoothness, inverse dynamics) on frameskipped windows;
    3. evaluate — DINO-WM's goal-conditioned protocol (``hjepa.control.latent``): goals are
                  the observations held-out episodes reach ``goal_steps`` later; MPC with CEM in
                  representation space, beside random actions, the episode's own actions and
                  (``--eval.simulator``) the same planner on the true simulator;
    4. report   — ``config.json``, ``metrics.jsonl``, checkpoint, curves, a GIF, ``report.md``
                  and ``summary.json`` in ``runs/<name>/``, with wall-clock and CPU time per stage.

Under ``torchrun --nproc-per-node N -m hjepa gym`` rank 0 does everything above; the other ranks
only train beside it (``hjepa.runs.distributed``): rank 0 collects (or loads) the data, builds the
model, then hands over the data's paths, the starting weights and the random states, and every
rank trains on its block of each global batch (``train_world_model(..., context=...)``). Only rank
0 writes the run directory; the others read the data it saved there (one machine, or a shared disk).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import tyro

from hjepa.control.episodes import run_episodes
from hjepa.control.gym_simulator import TrueSimulatorMPC
from hjepa.control.latent import LatentMPC
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import make_planner
from hjepa.control.random import RandomController, uniform_box
from hjepa.control.replay import ReplayReference
from hjepa.control.worlds import PixelWorld
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.data.goal_tasks import random_state_tasks, sample_goal_tasks
from hjepa.data.trajectories import Trajectories
from hjepa.envs.adapters.batch import PixelEnvBatch
from hjepa.envs.adapters.catalog import EnvFunctions, env_functions
from hjepa.envs.experts import CubeExpert, PushTExpert, ReacherExpert
from hjepa.envs.exploration_gym import CorrelatedNoisePolicy, PushSeekingPolicy, collect_pixel_episodes
from hjepa.errors import InputError
from hjepa.eval.world_diagnostics import HeldOutDiagnostics
from hjepa.nn.linear_probe import LinearProbe
from hjepa.recipes.gym_config import GymJob, resolve, simulator_plan, window_sampler, world_model_config
from hjepa.recipes.gym_practice import practice_stage
from hjepa.recipes.gym_processes import WAIT_FOR_RANK0, train_beside_rank0, training_start
from hjepa.recipes.gym_report import write_gym_outputs
from hjepa.recipes.run_options import apply_threads, open_run, resolve_device
from hjepa.runs.distributed import (
    Handover,
    agree,
    init_distributed,
    leave_together,
    local_rows,
    shutdown_distributed,
)
from hjepa.runs.resume import ResumePoint
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import build_world_model
from hjepa.world.checkpoint import WorldCheckpoint, checkpoint_state, load_world_checkpoint
from hjepa.world.train import train_world_model


def exploration_policy(job: GymJob, spec):
    """The documented exploration policy of ``job.env``."""
    if job.env == "pusht":
        return PushSeekingPolicy(max_step=spec.action_high[0], push_prob=job.data.push_prob)
    return CorrelatedNoisePolicy(spec.action_low, spec.action_high, rho=job.data.rho, sigma=job.data.sigma)


def expert_policy(job: GymJob, spec):
    """The privileged expert of ``job.env`` (hjepa.envs.experts); PushT, reacher and cube have one."""
    if job.env == "pusht":
        return PushTExpert(max_step=spec.action_high[0])
    if job.env == "reacher":
        return ReacherExpert()
    if job.env == "cube":
        return CubeExpert()
    raise InputError(f"{job.env} has no expert controller: expert data and eval.goal-source expert need pusht, reacher or cube")


EXPERT_SEED = {"train": 7001, "validation": 7002, "test": 7003, "practice": 7004}
"""Seed offsets of the expert trajectories, added to the job's seed (training) or eval seed."""
TEST_SEED_OFFSET = 10000
"""Test tasks draw with ``eval.seed + TEST_SEED_OFFSET``; validation tasks with ``eval.seed``."""


def stored_or_collect(run, job: GymJob, functions: EnvFunctions, part: str, episodes: int, seed: int,
                      min_steps: int = 1) -> Trajectories:
    """``run/data/<part>``: loaded if an earlier (resumed) attempt saved it, else collected and saved;
    ``part`` starting with 'expert' holds the privileged expert's episodes."""
    path = run.path(f"data/{part}")
    if path.exists():
        return Trajectories.load(path)
    if job.data.steps < min_steps:
        raise InputError(f"data.steps={job.data.steps} is shorter than eval.goal-steps={min_steps}: no goal lies that far ahead")
    data = collect(job, functions, episodes, seed, expert=part.startswith("expert"))
    data.save(path)
    return data


def collect(job: GymJob, functions: EnvFunctions, episodes: int, seed: int, expert: bool = False) -> Trajectories:
    """Episodes of ``job.env`` (single frames; stacking happens when sampling): reward-free
    exploration, or with ``expert`` the privileged expert's (labelled so in the metadata)."""
    batch = PixelEnvBatch(lambda: functions.make(job.size), min(job.data.copies, episodes))
    try:
        policy = expert_policy(job, batch.spec) if expert else exploration_policy(job, batch.spec)
        arrays = collect_pixel_episodes(batch, policy, episodes, job.data.steps, seed, show_progress=job.progress)
        meta = {"env": batch.spec.to_dict(), "policy": policy.describe(), "seed": seed}
    finally:
        batch.close()
    return Trajectories.from_arrays(arrays, meta)


class StageClock:
    """Wall-clock and process CPU seconds of one stage."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> dict[str, float]:
        return {"wall_seconds": time.perf_counter() - self.wall, "cpu_seconds": time.process_time() - self.cpu}


def true_simulator_controller(
    job: GymJob, functions: EnvFunctions, world: PixelWorld, action_scale: np.ndarray, seed: int
) -> tuple[str, TrueSimulatorMPC, dict]:
    """The learned controller's MPC and planner on ``job.env``'s true simulator (its own budget,
    :func:`~hjepa.recipes.gym_config.simulator_plan`): label, controller (its ``simulator`` is the
    caller's to close) and the budget used."""
    plan, frameskip = simulator_plan(job), job.model.frameskip
    plan_dim = len(action_scale) * (1 if plan.hold else frameskip)
    mpc = ModelPredictiveController(make_planner(plan, plan_dim, plan.max_action), plan.horizon, frameskip, torch.Generator().manual_seed(seed))
    cost = IntrinsicCost(squared=True, reduce_min=plan.min_over_horizon)
    controller = TrueSimulatorMPC(functions.simulator(), functions.goal_features, world.state, mpc, cost, action_scale, plan.hold)
    full = (plan.samples, plan.iterations) == (job.plan.samples, job.plan.iterations)
    label = f"true simulator + {plan.planner.upper()}" + ("" if full else f" {plan.samples}x{plan.iterations}")
    return label, controller, {"label": label, "samples": plan.samples, "iterations": plan.iterations, "elites": plan.elites}


def load_gym_world_model(path: Path, env: str) -> WorldCheckpoint:
    """The world model of ``env`` stored at ``path`` (its ``extra`` holds frame_stack and action_scale)."""
    stored = load_world_checkpoint(path, "gym")
    if stored.extra.get("env") != env:
        raise InputError(f"{path} is a world model of {stored.extra.get('env')!r}, not of {env!r}")
    return stored


@dataclass(frozen=True)
class GymInputs:
    """What ``run_gym`` reads and checks before a run directory exists."""

    functions: EnvFunctions
    spec: Any
    """The environment's spec (observation shape, action box, state names)."""
    stored: tuple[Trajectories, Trajectories] | None
    """``--dataset``'s (train, heldout) episodes, or None to collect them."""
    dataset_path: Path | None
    stored_model: WorldCheckpoint | None
    """``--checkpoint``'s world model (no training), or None to train one."""

    @property
    def action_scale(self) -> np.ndarray:
        """The action box's half-range: actions are divided by it."""
        return np.asarray(self.spec.action_high, dtype=np.float64)


def check_inputs(job: GymJob, dataset_path: Path | None, checkpoint: Path | None) -> tuple[GymJob, GymInputs]:
    """Refuse a missing package, dataset or checkpoint before a run directory exists (a half-made run
    would block re-running the same --name); the job takes a checkpoint's frame stack and frameskip."""
    functions = env_functions(job.env)
    probe_env = functions.make(job.size)
    spec = probe_env.spec
    probe_env.close()
    stored = None
    if dataset_path is not None:
        stored = (Trajectories.load(Path(dataset_path) / "train"), Trajectories.load(Path(dataset_path) / "heldout"))
        for part in stored:
            if part.meta.get("env", {}).get("name") != job.env:
                raise InputError(f"{dataset_path} holds {part.meta.get('env', {}).get('name')!r} episodes, not {job.env!r}")
    if job.eval.goal_source == "expert" or job.data.expert_episodes > 0:
        expert_policy(job, spec)  # refuses environments without an expert
    stored_model = load_gym_world_model(checkpoint, job.env) if checkpoint is not None else None
    if job.practice.rounds > 0:
        expert_policy(job, spec)  # practice goals come from the expert: refuses environments without one
        if stored_model is not None and stored_model.inverse_dynamics is None:
            raise InputError(f"{checkpoint} holds no inverse-dynamics head: practice needs one to train the model further")
    if stored_model is not None:
        job = dataclasses.replace(job, model=dataclasses.replace(
            job.model, frame_stack=int(stored_model.extra["frame_stack"]), frameskip=stored_model.config.frameskip,
            proprio=bool(stored_model.extra.get("proprio", False))))
    return job, GymInputs(functions, spec, stored, dataset_path, stored_model)


def run_gym(job: GymJob) -> dict:
    """The whole job; returns the summary also written to ``runs/<name>/summary.json`` (on ranks
    other than 0 of ``torchrun``, which write nothing: ``{"rank", "train_steps"}``).

    ``job.dataset`` is a data directory of an earlier run (holding ``train/`` and ``heldout/``)
    to reuse instead of collecting; ``job.checkpoint`` reuses a trained world model (no training).
    """
    dataset_path, checkpoint = job.dataset, job.checkpoint
    t_start = time.perf_counter()
    job = dataclasses.replace(resolve(job), device=str(resolve_device(job.device)))
    apply_threads(job.threads)
    context = init_distributed(job.device, timeout=WAIT_FOR_RANK0)
    try:
        if context.world_size > 1:
            if job.practice.rounds > 0:
                raise InputError("practice runs in one process: drop --practice.rounds or torchrun")
            job = dataclasses.replace(job, device=str(context.device))
            local_rows(job.train.batch_size, context)  # the global batch splits evenly, or nothing starts
        job, inputs = check_inputs(job, dataset_path, checkpoint)
        run, error = None, None
        if context.is_main:
            try:
                run = open_run(job, "gym", name=job.run_name)
            except (OSError, ValueError) as caught:
                error = caught
        agree(context, error)
        torch.manual_seed(job.seed)
        generator = torch.Generator().manual_seed(job.seed)
        if context.is_main:
            handover = Handover(context)
            try:
                summary = run_stages(job, inputs, run, generator, handover, t_start)
            except Exception as caught:
                handover.fail(caught)  # the other ranks wait for it: they stop too
                raise
        else:
            inputs = dataclasses.replace(inputs, stored=None)  # it reads the training data rank 0 names
            summary = train_beside_rank0(job, inputs.functions, inputs.action_scale, context, generator)
        leave_together(context)
        return summary
    finally:
        shutdown_distributed(context)


def run_stages(job: GymJob, inputs: GymInputs, run: RunDir, generator: torch.Generator, handover: Handover,
               t_start: float) -> dict:
    """Data, world model, planning and report into ``run`` (rank 0's work): returns the summary. The
    other ranks of ``torchrun`` get ``handover`` just before training (None when nothing is trained)."""
    functions, spec, stored, stored_model, dataset_path = (inputs.functions, inputs.spec, inputs.stored,
                                                           inputs.stored_model, inputs.dataset_path)
    proprio = functions.proprio if job.model.proprio else None
    proprio_dim = 0 if proprio is None else int(proprio(np.zeros((1, len(spec.state_names)))).shape[-1])
    point = ResumePoint(run, {"train": generator})
    stage, state, rng = (point.load() if job.resume else None) or (None, {}, {})
    timings: dict[str, dict[str, float]] = {}

    # 1. data ---------------------------------------------------------------------------------
    clock = StageClock()
    if stored is not None:
        train_data, heldout = stored
        data_source = str(dataset_path)
        train_parts = [Path(dataset_path) / "train"]
    elif run.path("data/heldout").exists():  # resuming: the data is already collected
        train_data, heldout = Trajectories.load(run.path("data/train")), Trajectories.load(run.path("data/heldout"))
        data_source = str(run.path("data"))
        train_parts = [run.path("data/train")]
    else:
        train_data = collect(job, functions, job.data.episodes, job.seed)
        heldout = collect(job, functions, job.data.heldout_episodes, job.seed + 1)
        train_data.save(run.path("data/train"))
        heldout.save(run.path("data/heldout"))
        data_source = str(run.path("data"))
        train_parts = [run.path("data/train")]
    if job.data.expert_episodes > 0 and stored_model is None:  # training data: not needed to evaluate a checkpoint
        expert = stored_or_collect(run, job, functions, "expert-train", job.data.expert_episodes, job.seed + EXPERT_SEED["train"])
        train_data = Trajectories.concat([train_data, expert])
        train_data = dataclasses.replace(train_data, meta={**train_data.meta, "policy": [train_data.meta.get("policy"), expert.meta["policy"]]})
        train_parts.append(run.path("data/expert-train"))
    practice_expert = None
    if job.practice.rounds > 0:  # practice goals: the expert's trajectories of training seeds
        practice_expert = stored_or_collect(run, job, functions, "expert-practice", job.practice.tasks,
                                            job.seed + EXPERT_SEED["practice"], min_steps=job.eval.goal_steps)
    eval_seed = job.eval.seed + (TEST_SEED_OFFSET if job.eval.split == "test" else 0)
    task_source = heldout
    if job.eval.goal_source == "expert":
        task_source = stored_or_collect(run, job, functions, f"expert-{job.eval.split}", job.eval.episodes,
                                        job.eval.seed + EXPERT_SEED[job.eval.split], min_steps=job.eval.goal_steps)
    elif job.eval.split == "test" and job.eval.goal_source == "dataset":
        task_source = stored_or_collect(run, job, functions, "heldout-test", job.data.heldout_episodes, job.seed + 2)
    timings["data"] = clock.stop()

    # 2. world model --------------------------------------------------------------------------
    clock = StageClock()
    frame_stack, frameskip = job.model.frame_stack, job.model.frameskip
    action_scale = inputs.action_scale
    diagnose = HeldOutDiagnostics(window_sampler(job, functions, action_scale, heldout), job.train.eval_windows)
    practice = {"rounds": 0}
    if stored_model is not None and job.practice.rounds == 0:
        handover.send(None)
        model = stored_model.model.to(job.device)
        diagnostics, train_steps = diagnose(model, torch.Generator().manual_seed(job.seed)), 0
    else:
        if stored_model is not None:  # practice only, from the stored model
            model_config, model, inverse_dynamics = stored_model.config, stored_model.model, stored_model.inverse_dynamics
        else:
            model_config = world_model_config(job.model, spec.obs_shape[0] * frame_stack + proprio_dim, job.size, spec.action_dim)
            model, inverse_dynamics = build_world_model(model_config)
        model.to(job.device)
        inverse_dynamics.to(job.device)
        train_steps = 0 if stored_model is not None else job.train.steps
        if stage == "trained":  # resuming after training: only the evaluation is left
            handover.send(None)
            model.load_state_dict(state["model"])
            inverse_dynamics.load_state_dict(state["inverse_dynamics"])
            probe, diagnostics, practice = LinearProbe.from_state_dict(state["probe"]), state["diagnostics"], state.get("practice", {"rounds": 0})
            point.restore_rng(rng)
        else:
            if stage in ("train", "practice"):
                point.restore_rng(rng)
            if stored_model is not None or stage == "practice":
                handover.send(None)
            else:
                handover.send(training_start(model_config, model, inverse_dynamics, generator, train_parts, state.get("train")))
                result = train_world_model(model, inverse_dynamics, window_sampler(job, functions, action_scale, train_data),
                                           job.loss, job.train, generator, diagnose=diagnose, run=run, show_progress=job.progress,
                                           checkpoint=lambda train: point.save("train", {"train": train}),
                                           resume=state.get("train"), context=handover.context)
                diagnostics = result.diagnostics
            if job.practice.rounds > 0:
                diagnostics, practice = practice_stage(job, functions, spec, action_scale, run, point, stage, state, model,
                                                       inverse_dynamics, train_data, practice_expert, proprio, generator,
                                                       diagnose, train_steps)
            probe = diagnose.probe
            point.save("trained", {"model": model.state_dict(), "inverse_dynamics": inverse_dynamics.state_dict(),
                                   "probe": probe.state_dict(), "diagnostics": diagnostics, "practice": practice})
        extra = {"env": job.env, "size": job.size, "frame_stack": frame_stack, "proprio": job.model.proprio,
                 "action_scale": [float(v) for v in action_scale]}
        run.save_checkpoint("world_model", checkpoint_state("gym", model, model_config, inverse_dynamics, probe, extra=extra))
    timings["train"] = clock.stop()

    # 3. goal-conditioned planning --------------------------------------------------------------
    clock = StageClock()
    model.eval()
    batch = PixelEnvBatch(lambda: functions.make(job.size), job.eval.episodes, frame_stack)
    if job.eval.goal_source == "random_state":
        tasks = random_state_tasks(batch, job.eval.episodes, eval_seed)
    else:
        tasks = sample_goal_tasks(task_source, job.eval.episodes, job.eval.goal_steps, frame_stack, eval_seed)
    plan_dim = spec.action_dim * (1 if job.plan.hold else frameskip)
    mpc = ModelPredictiveController(make_planner(job.plan, plan_dim, job.plan.max_action), job.plan.horizon, frameskip,
                                    torch.Generator().manual_seed(eval_seed))
    cost = IntrinsicCost(squared=True, reduce_min=job.plan.min_over_horizon)
    label = f"JEPA world model + {job.plan.planner.upper()}"
    controllers = {label: LatentMPC(model, mpc, cost, action_scale, frameskip, job.plan.hold, proprio)}
    if job.eval.baselines:
        draw = uniform_box(np.asarray(spec.action_low), action_scale, frameskip, eval_seed + 1)
        controllers["random actions"] = RandomController(draw, frameskip)
        if job.eval.goal_source in ("dataset", "expert"):
            controllers["held-out episode's own actions (open loop)"] = ReplayReference(frameskip)
    budget = -(-job.eval.budget_steps // frameskip) * frameskip  # whole planner steps
    world = PixelWorld(batch, functions.success, functions.distances, proprio)
    true_simulator, simulator_budget = None, None
    results = {}
    try:
        if job.eval.baselines and job.eval.simulator and functions.simulator is not None:
            name, true_simulator, simulator_budget = true_simulator_controller(job, functions, world, action_scale, eval_seed)
            controllers[name] = true_simulator
        for name, controller in controllers.items():
            results[name] = run_episodes(world, controller, tasks, budget, record=job.eval.record if name == label else 0,
                                         progress=job.progress, desc="plan")
    finally:
        batch.close()
        if true_simulator is not None:
            true_simulator.simulator.close()
    timings["plan"] = clock.stop()
    return write_gym_outputs(run, job, spec, tasks, results, diagnostics, timings, train_steps, len(train_data),
                             len(heldout), data_source, t_start, simulator_budget, handover.context.world_size, practice)



@dataclass(frozen=True)
class GymCommand:
    """External environments from pixels (PushT, PointMaze, Pendulum, reacher, cube; needs hjepa[envs]): collect
    reward-free data, train a JEPA world model, plan to held-out goals with DINO-WM's protocol."""

    job: Annotated[GymJob, tyro.conf.arg(name="")] = field(default_factory=GymJob)

    def run(self) -> dict:
        return run_gym(self.job)
