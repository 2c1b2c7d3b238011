"""Configuration of the external-environment job (``hjepa gym``): plain dataclasses turned into
the CLI by tyro, the per-environment defaults, and the world-model architecture they describe."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from hjepa.control.plan_config import PlanConfig
from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import ProprioFrames, StoredFrames, WindowSampler
from hjepa.envs.adapters.catalog import EnvFunctions, EnvName
from hjepa.errors import InputError, check_seed
from hjepa.recipes.run_options import RunOptions
from hjepa.world.build import WorldModelConfig
from hjepa.world.objective import WorldModelLossWeights
from hjepa.world.train import TrainConfig


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
    """PointMaze/Pendulum/reacher/cube: correlation of consecutive random actions (AR(1) noise)."""
    sigma: float = 0.7
    """PointMaze/Pendulum/reacher/cube: std of the random actions, as a fraction of the half-range."""
    push_prob: float = 0.5
    """PushT: probability that a waypoint lies behind the T-block (the walk pushes it)."""
    expert_episodes: int = 0
    """Add this many expert episodes (a privileged controller on the true state, hjepa.envs.experts;
    PushT, reacher and cube) to the training data beside the exploration episodes."""

    def __post_init__(self) -> None:
        for name in ("steps", "heldout_episodes", "copies"):
            if getattr(self, name) < 1:
                raise InputError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.episodes is not None and self.episodes < 1:
            raise InputError(f"data.episodes must be >= 1, got {self.episodes}")


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
    """Frames per observation (None: the environment's default; 2 for Pendulum, PointMaze and
    reacher, whose single frame does not show the (angular) velocity)."""
    proprio: bool = False
    """Give the model the environment's proprioception beside the frames (PushT: the agent's position
    and velocity; reacher: the joints' angles and velocities; as DINO-WM does), as constant channels
    of the encoder's input."""

    def __post_init__(self) -> None:
        for name in ("obs_pool", "frameskip", "state_dim", "predictor_hidden", "predictor_layers"):
            if getattr(self, name) < 1:
                raise InputError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.frame_stack is not None and self.frame_stack < 1:
            raise InputError(f"model.frame_stack must be >= 1, got {self.frame_stack}")


GYM_PLAN = PlanConfig(planner="cem", horizon=5, samples=300, iterations=30, replan_every=1, elites=30, noise_std=1.0,
                      min_std=0.05, max_action=1.0, min_over_horizon=True, hold=False)
"""Mode-2 planning of the pixel environments: DINO-WM's CEM (300 samples, top 30, 30 iterations, horizon 5
planner steps of whole macro actions) on the scaled action box [-1, 1], re-planned every planner step with a
warm start; the cost is the closest predicted approach to the goal's representation over the horizon
(docs/world_model.md; ``--plan.no-min-over-horizon``: the distance at the last step, DINO-WM's objective)."""


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
    goal_source: Literal["dataset", "expert", "random_state"] = "dataset"
    """'dataset': goals that held-out episodes reached goal_steps later (DINO-WM's PushT setting);
    'expert': start at a state of an expert trajectory, goal its state goal_steps later
    (stable-worldmodel's protocol; the trajectories come from a privileged controller, PushT and
    reacher); 'random_state': start and goal anywhere in free space at rest (DINO-WM's PointMaze
    setting; PointMaze only; give it a longer budget_steps)."""
    split: Literal["validation", "test"] = "validation"
    """Which tasks: every choice (recipe, horizon, samples) is made on validation tasks; test tasks
    (their own seed, eval.seed + 10000, and their own expert trajectories) are reported once."""
    baselines: bool = True
    """Also run random actions and the held-out episode's own actions (open loop)."""
    simulator: bool = False
    """With baselines: also run the same planner on the true simulator (reacher, PushT), with a cost on
    true states (the goal state's fingertip; PushT's pose), which separates the world model's error from
    the planner's. Off by default for its cost: reacher's 50 tasks take about 4 CPU-minutes (batched
    MuJoCo), PushT's 10-14 at its smaller budget (64 x 6); the learned controller's about 2."""
    simulator_samples: int | None = None
    """CEM samples of the true-simulator planner (None: 64 on PushT, whose simulator is not batched; plan.samples on reacher)."""
    simulator_iterations: int | None = None
    """CEM iterations of the true-simulator planner (None: 6 on PushT; plan.iterations on reacher)."""
    record: int = 8
    """Episodes drawn into episodes.gif."""

    def __post_init__(self) -> None:
        for name in ("episodes", "goal_steps", "budget_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"eval.{name} must be >= 1, got {getattr(self, name)}")
        check_seed("eval.seed", self.seed)
        if self.simulator_samples is not None and self.simulator_samples < 2:
            raise InputError(f"eval.simulator_samples must be >= 2, got {self.simulator_samples}")
        if self.simulator_iterations is not None and self.simulator_iterations < 1:
            raise InputError(f"eval.simulator_iterations must be >= 1, got {self.simulator_iterations}")


def _default_train() -> TrainConfig:
    return TrainConfig(steps=None, batch_size=64, window=4, eval_every=250, eval_windows=256)


@dataclass(frozen=True)
class GymPracticeConfig:
    """Practice after training (off by default): the model plans toward goals cut from trajectories of
    the privileged expert drawn with training seeds (never the evaluation's), the plans run in the
    environment, and the world model trains on what really happened (frames and actions only, no
    reward). It shows the model the pushes its own plans make, which exploration rarely does."""

    rounds: int = 0
    """Practice rounds (0: none). Each plans ``tasks`` episodes with the current model, then trains
    ``steps`` steps on the training data and all practice episodes so far."""
    tasks: int = 100
    """Practice episodes per round (goals eval.goal_steps ahead, eval.budget_steps steps each)."""
    steps: int = 2000
    """Training steps per round."""
    fraction: float = 0.5
    """Fraction of each training batch drawn from practice episodes (the rest: the training data)."""
    lr: float = 5e-4
    """Peak learning rate while practising (warm-up and cosine decay within each round)."""
    samples: int = 64
    """CEM samples of the practice planner (the evaluation's 300 x 30 would cost ~20x more)."""
    iterations: int = 6
    """CEM iterations of the practice planner."""

    def __post_init__(self) -> None:
        for name in ("rounds", "tasks", "steps", "samples", "iterations"):
            low = 0 if name == "rounds" else 1
            if getattr(self, name) < low:
                raise InputError(f"practice.{name} must be >= {low}, got {getattr(self, name)}")
        if not 0.0 < self.fraction <= 1.0:
            raise InputError(f"practice.fraction must be in (0, 1], got {self.fraction}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"practice.lr must be a positive finite number, got {self.lr}")


@dataclass(frozen=True, kw_only=True)
class GymJob(RunOptions):
    """Collect reward-free pixel data of an external environment, train a JEPA world model,
    plan to goals from held-out episodes with DINO-WM's protocol, report."""

    env: EnvName = "pusht"
    """pusht (gym-pusht), pointmaze (gymnasium-robotics PointMaze_UMaze-v3), pendulum (Pendulum-v1),
    reacher (dm-control suite reacher-easy) or cube (OGBench cube-single)."""
    name: str | None = None
    """Run name (None: gym-<env>); results go to <runs_root>/<name>/."""
    dataset: Path | None = None
    """Reuse the data directory of an earlier run (runs/<name>/data, holding train/ and heldout/)."""
    checkpoint: Path | None = None
    """Reuse a world model (runs/<name>/checkpoints/world_model.pt) instead of training."""
    size: int = 64
    """Side of the rendered observations in pixels."""
    objective: Literal["pldm", "lewm"] = "pldm"
    """The world model's training objective, when the loss weights are left at their defaults: 'pldm'
    (prediction + VICReg variance/covariance + temporal smoothness + inverse dynamics, PLDM's recipe)
    or 'lewm' (prediction + SIGReg only, end to end, no stop-gradient or EMA: LeWM's recipe)."""
    data: GymDataConfig = field(default_factory=GymDataConfig)
    model: GymModelConfig = field(default_factory=GymModelConfig)
    loss: WorldModelLossWeights = field(default_factory=WorldModelLossWeights)
    train: TrainConfig = field(default_factory=_default_train)
    plan: PlanConfig = GYM_PLAN
    eval: GymEvalConfig = field(default_factory=GymEvalConfig)
    practice: GymPracticeConfig = field(default_factory=GymPracticeConfig)

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
    "reacher": EnvDefaults(episodes=300, train_steps=3000, frame_stack=2),
    "cube": EnvDefaults(episodes=60, train_steps=4000, frame_stack=1),
}
"""Sized for about 15 CPU-minutes per environment on one thread (benchmarks/RESULTS.md); cube's frames cost
~40 ms each to draw, so its exploration is short and its recipes add expert episodes (docs/environments.md)."""


def resolve(job: GymJob) -> GymJob:
    """``job`` with every ``None`` replaced by the environment's default."""
    if job.env not in ENV_DEFAULTS:
        raise InputError(f"unknown environment {job.env!r}: choose one of {', '.join(ENV_DEFAULTS)}")
    d = ENV_DEFAULTS[job.env]
    data = job.data if job.data.episodes is not None else dataclasses.replace(job.data, episodes=d.episodes)
    model = job.model if job.model.frame_stack is not None else dataclasses.replace(job.model, frame_stack=d.frame_stack)
    train = job.train if job.train.steps is not None else dataclasses.replace(job.train, steps=d.train_steps)
    loss = LEWM_LOSS if job.objective == "lewm" and job.loss == WorldModelLossWeights() else job.loss
    return dataclasses.replace(job, data=data, model=model, train=train, loss=loss)


SIMULATOR_BUDGET = {"pusht": (64, 6)}
"""(samples, iterations) of the true-simulator planner where the simulator is not batched: PushT's pymunk
takes 0.13-0.17 ms per environment step on one core, so the learned controller's 300 x 30 would be 30-40 s
per plan; 64 x 6 (x 25 steps) is 1.2-1.6 s per plan, 10-14 minutes for 50 tasks. Elsewhere (reacher,
batched MuJoCo: ~0.5 s per 300 x 30 plan): the learned controller's own budget."""


def simulator_plan(job: GymJob) -> PlanConfig:
    """The learned controller's planner settings with the true-simulator budget (SIMULATOR_BUDGET, or
    the job's eval.simulator_samples / _iterations); elites scale with the samples (top 10% for 300 x 30)."""
    samples, iterations = SIMULATOR_BUDGET.get(job.env, (job.plan.samples, job.plan.iterations))
    samples = job.eval.simulator_samples if job.eval.simulator_samples is not None else samples
    iterations = job.eval.simulator_iterations if job.eval.simulator_iterations is not None else iterations
    return plan_with_budget(job.plan, samples, iterations)


def plan_with_budget(plan: PlanConfig, samples: int, iterations: int) -> PlanConfig:
    """``plan`` with another sample and iteration budget; its elites scale with the samples (kept as they
    are when the samples are), at least 1 and at most the samples."""
    elites = plan.elites if samples == plan.samples else round(plan.elites * samples / plan.samples)
    return dataclasses.replace(plan, samples=samples, iterations=iterations, elites=min(samples, max(1, elites)))


LEWM_LOSS = WorldModelLossWeights(prediction=1.0, variance=0.0, covariance=0.0, smoothness=0.0, inverse_dynamics=0.0,
                                  sigreg=0.1)
"""``--objective lewm``: the prediction error and SIGReg on the states, nothing else."""


def world_model_config(model: GymModelConfig, obs_channels: int, size: int, action_dim: int) -> WorldModelConfig:
    """The ``hjepa.world`` architecture for this environment's observations and actions."""
    return WorldModelConfig(
        architecture=model.architecture, obs_channels=obs_channels, obs_size=size, obs_pool=model.obs_pool,
        channels=model.channels, state_dim=model.state_dim, spatial_channels=model.spatial_channels,
        predictor_hidden=model.predictor_hidden, predictor_layers=model.predictor_layers,
        idm_hidden=model.idm_hidden, frameskip=model.frameskip, action_dim=action_dim,
    )


def window_sampler(job: GymJob, functions: EnvFunctions, action_scale: np.ndarray, data: Trajectories) -> WindowSampler:
    """Training (or held-out) windows of ``data``: ``job.train.window`` frameskipped steps of stacked
    frames (plus proprioception with ``--model.proprio``) and actions divided by ``action_scale``."""
    frames = StoredFrames(data, job.model.frame_stack, job.model.obs_pool)
    proprio = functions.proprio if job.model.proprio else None
    source = frames if proprio is None else ProprioFrames(frames, data, proprio)
    return WindowSampler(data, source, job.train.window, job.model.frameskip, action_scale, functions.probe_targets)
