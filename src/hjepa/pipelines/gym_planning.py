"""The external-environment job: PushT, PointMaze or Pendulum from pixels, end to end.

Stages, as in ``hjepa two-rooms``:
    1. collect  — reward-free exploration (docs/environments.md) into ``hjepa.pixel_trajectories``
                  datasets: ``data/train`` and, from another seed, ``data/heldout``;
    2. train    — the JEPA world model of ``hjepa.world`` (encoder + action-conditioned predictor,
                  VICReg variance/covariance, smoothness, inverse dynamics) on frameskipped windows;
    3. evaluate — DINO-WM's goal-conditioned protocol (``hjepa.eval.goal_reaching``): goals are
                  the observations held-out episodes reach ``goal_steps`` later; MPC with CEM in
                  representation space, beside random actions and the episode's own actions;
    4. report   — ``config.json``, ``metrics.jsonl``, checkpoint, curves, a GIF, ``report.md``
                  and ``summary.json`` in ``runs/<name>/``, with wall-clock and CPU time per stage.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from hjepa.data.pixel_trajectories import PixelTrajectories
from hjepa.data.pixel_windows import PixelWindowSampler
from hjepa.envs.adapters.catalog import EnvFunctions, EnvName, env_functions
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.objective import WorldModelLossWeights
from hjepa.world.train import TrainConfig

CHECKPOINT_FORMAT = "hjepa.gym.world_model/1"
CURVE_KEYS = ("loss/total", "loss/prediction", "loss/variance", "loss/inverse_dynamics", "eval/probe_r2",
              "eval/pred_error_t1", "eval/rollout_rmse_px", "eval/effective_rank", "lr")
"""The curves drawn in training_curves.png (every metric is in metrics.jsonl)."""


@dataclass(frozen=True)
class GymDataConfig:
    """Reward-free exploration data."""

    episodes: int | None = None
    """Training episodes (None: the environment's default, see ENV_DEFAULTS)."""
    steps: int = 100
    """Environment steps per episode."""
    heldout_episodes: int = 50
    """Held-out episodes (another seed): diagnostics and evaluation goals come from them."""
    copies: int = 10
    """Environment copies stepped together while collecting."""
    rho: float = 0.95
    """PointMaze/Pendulum: correlation of consecutive random actions (AR(1) noise)."""
    sigma: float = 0.7
    """PointMaze/Pendulum: std of the random actions, as a fraction of the half-range."""
    push_prob: float = 0.5
    """PushT: probability that a waypoint lies behind the T-block (the walk pushes it)."""

    def __post_init__(self) -> None:
        for name in ("steps", "heldout_episodes", "copies"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"data.episodes must be >= 1, got {self.episodes}")


@dataclass(frozen=True)
class GymModelConfig:
    """World-model architecture (the input channels and action size come from the environment)."""

    architecture: Literal["vector", "spatial"] = "vector"
    """'vector': conv encoder to a vector state and an MLP predictor (cheap to plan with, as the
    300 x 30 CEM of DINO-WM needs on a CPU); 'spatial': feature-map state and conv predictor."""
    obs_pool: int = 2
    """Average-pool factor of the 64x64 frames before the encoder (2: 32x32)."""
    channels: tuple[int, ...] = (32, 64, 64)
    """Conv channels of the encoder (each block halves the resolution)."""
    state_dim: int = 64
    """'vector' only: dimension of the state."""
    spatial_channels: int = 8
    """'spatial' only: channels of the state's feature map."""
    predictor_hidden: int = 256
    """Predictor width (MLP units for 'vector', conv channels for 'spatial')."""
    predictor_layers: int = 3
    """Predictor layers."""
    idm_hidden: int = 256
    """Width of the inverse-dynamics head."""
    frameskip: int = 5
    """Environment steps per predictor step (DINO-WM: 5)."""
    frame_stack: int | None = None
    """Frames per observation (None: the environment's default; 2 for Pendulum and PointMaze,
    whose single frame does not show the (angular) velocity)."""

    def __post_init__(self) -> None:
        for name in ("obs_pool", "frameskip", "state_dim", "predictor_hidden", "predictor_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.frame_stack is not None and self.frame_stack < 1:
            raise ValueError(f"model.frame_stack must be >= 1, got {self.frame_stack}")


@dataclass(frozen=True)
class GymPlanConfig:
    """Mode-2 planning; the defaults are DINO-WM's CEM (300 samples, top 30, 30 iterations,
    horizon 5 planner steps), re-planned every planner step with a warm start."""

    planner: Literal["cem", "mppi"] = "cem"
    """Optimiser over action sequences."""
    horizon: int = 5
    """Planner steps per plan (each is frameskip environment steps)."""
    samples: int = 300
    """Candidate plans per iteration."""
    iterations: int = 30
    """Optimiser iterations per decision."""
    elites: int = 30
    """Elite plans (CEM's top-k; MPPI's elites)."""
    init_std: float = 1.0
    """Initial sampling std of the scaled actions (the box is [-1, 1])."""
    hold: bool = False
    """Plan one action per planner step, held for frameskip steps (False: the whole macro action,
    frameskip x A numbers per planner step, as DINO-WM)."""
    cost: Literal["min", "last"] = "min"
    """'min': the closest predicted approach to the goal's representation over the horizon
    (docs/world_model.md); 'last': the distance at the last planner step (DINO-WM's objective)."""

    def __post_init__(self) -> None:
        for name in ("horizon", "samples", "iterations", "elites"):
            if getattr(self, name) < 1:
                raise ValueError(f"plan.{name} must be >= 1, got {getattr(self, name)}")
        if self.elites > self.samples:
            raise ValueError(f"plan.elites ({self.elites}) cannot exceed plan.samples ({self.samples})")
        if not self.init_std > 0:
            raise ValueError(f"plan.init_std must be > 0, got {self.init_std}")


@dataclass(frozen=True)
class GymEvalConfig:
    """DINO-WM's evaluation protocol."""

    episodes: int = 50
    """Goal-reaching episodes (DINO-WM: n_evals 50)."""
    seed: int = 99
    """Seed drawing the (episode, step) pairs of the held-out data (DINO-WM: 99)."""
    goal_steps: int = 25
    """The goal is the observation the held-out episode reached this many environment steps later
    (DINO-WM: goal_H 5 x frameskip 5)."""
    budget_steps: int = 50
    """Environment steps the controller may take (success is checked every planner step)."""
    goal_source: Literal["dataset", "random_state"] = "dataset"
    """'dataset': goals that held-out episodes reached goal_steps later (DINO-WM's PushT setting);
    'random_state': start and goal anywhere in free space at rest (DINO-WM's PointMaze setting;
    PointMaze only; give it a longer budget_steps)."""
    baselines: bool = True
    """Also run random actions and the held-out episode's own actions (open loop)."""
    record: int = 8
    """Episodes drawn into episodes.gif."""

    def __post_init__(self) -> None:
        for name in ("episodes", "goal_steps", "budget_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"eval.{name} must be >= 1, got {getattr(self, name)}")


def _default_train() -> TrainConfig:
    return TrainConfig(steps=None, batch_size=64, window=4, eval_every=250, eval_windows=256)


@dataclass(frozen=True)
class GymJob:
    """Collect reward-free pixel data of an external environment, train a JEPA world model,
    plan to goals from held-out episodes with DINO-WM's protocol, report."""

    env: EnvName = "pusht"
    """pusht (gym-pusht), pointmaze (gymnasium-robotics PointMaze_UMaze-v3) or pendulum (Pendulum-v1)."""
    name: str | None = None
    """Run name (None: gym-<env>); results go to <runs_root>/<name>/."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    overwrite: bool = False
    """Replace an existing run of the same name (the old one is moved aside, never deleted)."""
    seed: int = 0
    """Seed of data collection, initialisation and training."""
    threads: int = 1
    """Torch CPU threads (0: leave torch's default)."""
    size: int = 64
    """Side of the rendered observations in pixels."""
    progress: bool = True
    """Show progress bars."""
    data: GymDataConfig = field(default_factory=GymDataConfig)
    model: GymModelConfig = field(default_factory=GymModelConfig)
    loss: WorldModelLossWeights = field(default_factory=WorldModelLossWeights)
    train: TrainConfig = field(default_factory=_default_train)
    plan: GymPlanConfig = field(default_factory=GymPlanConfig)
    eval: GymEvalConfig = field(default_factory=GymEvalConfig)

    @property
    def run_name(self) -> str:
        return self.name if self.name is not None else f"gym-{self.env}"


@dataclass(frozen=True)
class EnvDefaults:
    """Per-environment settings used where the job leaves ``None``."""

    episodes: int
    train_steps: int
    frame_stack: int


ENV_DEFAULTS = {
    "pusht": EnvDefaults(episodes=800, train_steps=4000, frame_stack=1),
    "pointmaze": EnvDefaults(episodes=300, train_steps=3000, frame_stack=2),
    "pendulum": EnvDefaults(episodes=300, train_steps=3000, frame_stack=2),
}
"""Sized for about 15 CPU-minutes per environment on one thread (benchmarks/RESULTS.md)."""


def resolve(job: GymJob) -> GymJob:
    """``job`` with every ``None`` replaced by the environment's default."""
    if job.env not in ENV_DEFAULTS:
        raise ValueError(f"unknown environment {job.env!r}: choose one of {', '.join(ENV_DEFAULTS)}")
    d = ENV_DEFAULTS[job.env]
    data = job.data if job.data.episodes is not None else dataclasses.replace(job.data, episodes=d.episodes)
    model = job.model if job.model.frame_stack is not None else dataclasses.replace(job.model, frame_stack=d.frame_stack)
    train = job.train if job.train.steps is not None else dataclasses.replace(job.train, steps=d.train_steps)
    return dataclasses.replace(job, data=data, model=model, train=train)


def world_model_config(model: GymModelConfig, obs_channels: int, size: int, action_dim: int) -> WorldModelConfig:
    """The ``hjepa.world`` architecture for this environment's observations and actions."""
    return WorldModelConfig(
        architecture=model.architecture, obs_channels=obs_channels, obs_size=size, obs_pool=model.obs_pool,
        channels=model.channels, state_dim=model.state_dim, spatial_channels=model.spatial_channels,
        predictor_hidden=model.predictor_hidden, predictor_layers=model.predictor_layers,
        idm_hidden=model.idm_hidden, frameskip=model.frameskip, action_dim=action_dim,
    )


def exploration_policy(job: GymJob, spec):
    """The documented exploration policy of ``job.env``."""
    from hjepa.envs.exploration_gym import CorrelatedNoisePolicy, PushSeekingPolicy

    if job.env == "pusht":
        return PushSeekingPolicy(max_step=spec.action_high[0], push_prob=job.data.push_prob)
    return CorrelatedNoisePolicy(spec.action_low, spec.action_high, rho=job.data.rho, sigma=job.data.sigma)


def collect(job: GymJob, functions: EnvFunctions, episodes: int, seed: int) -> PixelTrajectories:
    """Reward-free episodes of ``job.env`` (single frames; stacking happens when sampling)."""
    from hjepa.envs.adapters.batch import PixelEnvBatch
    from hjepa.envs.exploration_gym import collect_pixel_episodes

    batch = PixelEnvBatch(lambda: functions.make(job.size), min(job.data.copies, episodes))
    try:
        policy = exploration_policy(job, batch.spec)
        arrays = collect_pixel_episodes(batch, policy, episodes, job.data.steps, seed, show_progress=job.progress)
        meta = {"env": batch.spec.to_dict(), "policy": policy.describe(), "seed": seed}
    finally:
        batch.close()
    return PixelTrajectories.from_arrays(arrays, meta)


class StageClock:
    """Wall-clock and process CPU seconds of one stage."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> dict[str, float]:
        return {"wall_seconds": time.perf_counter() - self.wall, "cpu_seconds": time.process_time() - self.cpu}


def save_gym_world_model(run: RunDir, job: GymJob, config: WorldModelConfig, model, inverse_dynamics, probe,
                         action_scale: np.ndarray) -> Path:
    """Checkpoint loadable with ``torch.load(..., weights_only=True)``."""
    return run.save_checkpoint("world_model", {
        "format": CHECKPOINT_FORMAT, "env": job.env, "size": job.size, "frame_stack": job.model.frame_stack,
        "action_scale": [float(v) for v in action_scale], "model_config": config.to_dict(),
        "model": model.state_dict(),
        "inverse_dynamics": inverse_dynamics.state_dict() if inverse_dynamics is not None else {},
        "probe": probe.state_dict() if probe is not None else {},
    })


def load_gym_world_model(path: Path, env: str):
    """``(model, config, frame_stack)`` from :func:`save_gym_world_model`'s checkpoint of ``env``."""
    from hjepa.runs.run_dir import load_checkpoint

    state = load_checkpoint(path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a gym world-model checkpoint (format {state.get('format')!r})")
    if state.get("env") != env:
        raise ValueError(f"{path} is a world model of {state.get('env')!r}, not of {env!r}")
    config = WorldModelConfig.from_dict(state["model_config"])
    model, _ = build_world_model(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not match the stored architecture: {error}") from error
    model.eval()
    return model, config, int(state["frame_stack"])


def make_planner(plan: GymPlanConfig, action_dim: int):
    """CEM or MPPI over scaled actions in ``[-1, 1]``."""
    from hjepa.planning.cem import CEM
    from hjepa.planning.mppi import MPPI

    if plan.planner == "cem":
        return CEM(action_dim, -1.0, 1.0, samples=plan.samples, elites=plan.elites, iterations=plan.iterations,
                   init_std=plan.init_std, min_std=0.05, momentum=0.1)
    return MPPI(action_dim, -1.0, 1.0, samples=plan.samples, iterations=plan.iterations, temperature=0.5,
                noise_std=plan.init_std, elites=plan.elites, adapt_std=True, min_std=0.05, max_std=1.0,
                normalize_costs=True)


def run_gym(job: GymJob, dataset_path: Path | None = None, checkpoint: Path | None = None) -> dict:
    """The whole job; returns the summary also written to ``runs/<name>/summary.json``.

    ``dataset_path`` is a data directory of an earlier run (holding ``train/`` and ``heldout/``)
    to reuse instead of collecting; ``checkpoint`` reuses a trained world model (no training).
    """
    from hjepa.agent.cost import IntrinsicCost
    from hjepa.agent.mpc import ModelPredictiveController
    from hjepa.envs.adapters.batch import PixelEnvBatch
    from hjepa.eval.goal_reaching import (
        LatentMPC, RandomActions, ReplayReference, evaluate_goal_reaching, random_state_tasks, sample_goal_tasks,
    )
    from hjepa.world.train import train_world_model

    t_start = time.perf_counter()
    job = resolve(job)
    if job.threads > 0:
        torch.set_num_threads(job.threads)
    functions = env_functions(job.env)
    # Inputs first: a missing package, dataset or checkpoint is refused before a run directory
    # exists (a half-made run would block re-running the same --name).
    probe_env = functions.make(job.size)
    spec = probe_env.spec
    probe_env.close()
    stored = None
    if dataset_path is not None:
        stored = (PixelTrajectories.load(Path(dataset_path) / "train"), PixelTrajectories.load(Path(dataset_path) / "heldout"))
        for part in stored:
            if part.meta.get("env", {}).get("name") != job.env:
                raise ValueError(f"{dataset_path} holds {part.meta.get('env', {}).get('name')!r} episodes, not {job.env!r}")
    stored_model = load_gym_world_model(checkpoint, job.env) if checkpoint is not None else None
    if stored_model is not None:
        job = dataclasses.replace(job, model=dataclasses.replace(job.model, frame_stack=stored_model[2],
                                                                 frameskip=stored_model[1].frameskip))
    run = RunDir.create(job.runs_root, job.run_name, overwrite=job.overwrite)
    run.write_config(job)
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)
    timings: dict[str, dict[str, float]] = {}

    # 1. data ---------------------------------------------------------------------------------
    clock = StageClock()
    if stored is not None:
        train_data, heldout = stored
        data_source = str(dataset_path)
    else:
        train_data = collect(job, functions, job.data.episodes, job.seed)
        heldout = collect(job, functions, job.data.heldout_episodes, job.seed + 1)
        train_data.save(run.path("data/train"))
        heldout.save(run.path("data/heldout"))
        data_source = str(run.path("data"))
    timings["data"] = clock.stop()

    # 2. world model --------------------------------------------------------------------------
    clock = StageClock()
    frame_stack, frameskip = job.model.frame_stack, job.model.frameskip
    action_scale = np.asarray(spec.action_high, dtype=np.float64)

    def sampler(data: PixelTrajectories) -> PixelWindowSampler:
        return PixelWindowSampler(data, job.train.window, frameskip, frame_stack, job.model.obs_pool,
                                  action_scale, functions.probe_targets)

    if stored_model is not None:
        from hjepa.world.diagnostics import world_model_diagnostics

        model, model_config, _ = stored_model
        diagnostics, probe = world_model_diagnostics(model, sampler(heldout), job.train.eval_windows,
                                                     torch.Generator().manual_seed(job.seed))
        train_steps = 0
    else:
        model_config = world_model_config(job.model, spec.obs_shape[0] * frame_stack, job.size, spec.action_dim)
        model, inverse_dynamics = build_world_model(model_config)
        result = train_world_model(model, inverse_dynamics, sampler(train_data), sampler(heldout), job.loss,
                                   job.train, generator, run=run, show_progress=job.progress)
        diagnostics, probe, train_steps = result.diagnostics, result.probe, result.steps
        save_gym_world_model(run, job, model_config, model, inverse_dynamics, probe, action_scale)
    timings["train"] = clock.stop()

    # 3. goal-conditioned planning --------------------------------------------------------------
    clock = StageClock()
    model.eval()
    batch = PixelEnvBatch(lambda: functions.make(job.size), job.eval.episodes, frame_stack)
    if job.eval.goal_source == "random_state":
        tasks = random_state_tasks(batch, job.eval.episodes, job.eval.seed)
    else:
        tasks = sample_goal_tasks(heldout, job.eval.episodes, job.eval.goal_steps, frame_stack, job.eval.seed)
    plan_dim = spec.action_dim * (1 if job.plan.hold else frameskip)
    mpc = ModelPredictiveController(make_planner(job.plan, plan_dim), job.plan.horizon, frameskip,
                                    torch.Generator().manual_seed(job.eval.seed))
    cost = IntrinsicCost(squared=True, reduce_min=job.plan.cost == "min")
    label = f"JEPA world model + {job.plan.planner.upper()}"
    controllers = {label: LatentMPC(model, mpc, cost, action_scale, frameskip, job.plan.hold)}
    if job.eval.baselines:
        controllers["random actions"] = RandomActions(np.asarray(spec.action_low), action_scale, frameskip, job.eval.seed + 1)
        if job.eval.goal_source == "dataset":
            controllers["held-out episode's own actions (open loop)"] = ReplayReference(frameskip)
    results = {}
    try:
        for name, controller in controllers.items():
            results[name] = evaluate_goal_reaching(
                batch, tasks, controller, frameskip, job.eval.budget_steps, functions.success, functions.distances,
                record=job.eval.record if name == label else 0, show_progress=job.progress,
            )
    finally:
        batch.close()
    timings["plan"] = clock.stop()

    # 4. report ---------------------------------------------------------------------------------
    from hjepa.runs.gif import write_gif
    from hjepa.runs.metrics import read_metrics
    from hjepa.runs.plots import plot_training_curves

    learned = results[label]
    metrics = read_metrics(run.path("metrics.jsonl")) if run.path("metrics.jsonl").exists() else []
    if metrics:
        keys = [k for k in CURVE_KEYS if any(k in record for record in metrics)]
        plot_training_curves(metrics, keys, run.path("training_curves.png"))
    if learned.frames:
        write_gif(learned.frames, run.path("episodes.gif"), fps=10, scale=2, ncols=4)
    rows = [{"controller": name, **res.summary()} for name, res in results.items()]
    summary = {
        "env": job.env, "env_id": spec.env_id,
        "success_rate": learned.summary()["success_rate"],
        "final_success_rate": learned.summary()["final_success_rate"],
        "start_success_rate": learned.summary()["start_success_rate"],
        "episodes": len(tasks),
        "planning_ms_per_step": learned.summary()["planning_ms_per_step"],
        "data_seconds": timings["data"]["wall_seconds"], "train_seconds": timings["train"]["wall_seconds"],
        "eval_seconds": timings["plan"]["wall_seconds"], "total_seconds": time.perf_counter() - t_start,
        "cpu_seconds": {stage: t["cpu_seconds"] for stage, t in timings.items()},
        "threads": torch.get_num_threads(), "train_steps": train_steps,
        "dataset_episodes": len(train_data), "heldout_episodes": len(heldout),
        "world_model": diagnostics, "controllers": {row["controller"]: row for row in rows},
    }
    run.write_json("summary.json", summary)
    write_gym_report(run, job, summary, rows, diagnostics, data_source)
    return summary


def write_gym_report(run: RunDir, job: GymJob, summary: dict, rows: list[dict], diagnostics: dict, data_source: str) -> None:
    from hjepa.runs.report import markdown_table, write_report

    cpu = summary["cpu_seconds"]
    timing = (
        f"CPU seconds (process time, {summary['threads']} torch thread(s)): data {cpu['data']:.0f}, training "
        f"{cpu['train']:.0f} ({summary['train_steps']} steps), planning evaluation {cpu['plan']:.0f}. Wall clock: "
        f"data {summary['data_seconds']:.0f} s, training {summary['train_seconds']:.0f} s, evaluation "
        f"{summary['eval_seconds']:.0f} s, total {summary['total_seconds']:.0f} s."
    )
    goals = (f"goals from held-out episodes (evaluation seed {job.eval.seed}): the goal is the observation the "
             f"episode reached {job.eval.goal_steps} steps after the start" if job.eval.goal_source == "dataset" else
             f"start and goal states drawn anywhere in free space at rest (DINO-WM's random_state, seed {job.eval.seed})")
    protocol = (
        f"{summary['episodes']} {goals}; {job.eval.budget_steps} "
        f"environment steps allowed, success checked every {job.model.frameskip} steps (success_rate) and at the "
        f"end (final_success_rate); start_success_rate: tasks already solved at the start. Planner: "
        f"{job.plan.planner.upper()} {job.plan.samples} samples x {job.plan.iterations} iterations, top "
        f"{job.plan.elites}, horizon {job.plan.horizon} x frameskip {job.model.frameskip}, cost '{job.plan.cost}'."
    )
    sections = [
        ("Results", protocol + "\n\n" + markdown_table(rows, float_fmt=".3g")),
        ("World model on held-out data", markdown_table([diagnostics], float_fmt=".3g")
         + "\n\nprobe_rmse_px / probe_r2: a linear probe of the environment's probe targets (true state "
           "quantities, in their own units, not pixels) from the representation; rollout_rmse_px: the probe on "
           "the state predicted a whole window ahead; pred_error_tk: normalised prediction error k steps ahead."),
        ("Time", timing),
        ("Files", f"config.json, metrics.jsonl, checkpoints/world_model.pt, training_curves.png, episodes.gif "
                  f"(each episode beside its goal), summary.json. Data: {data_source}."),
    ]
    write_report(run.path("report.md"), f"{summary['env_id']} from pixels: {job.run_name}", sections)
