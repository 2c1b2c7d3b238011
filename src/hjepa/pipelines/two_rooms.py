"""The main job: learn a JEPA world model of Two Rooms from reward-free observation, then plan
through the door in representation space.

Stages (each also available alone from the CLI):
    1. collect  — reward-free random walks, stored in the chunked trajectory format;
    2. train    — the JEPA world model (encoder + action-conditioned predictor) with VICReg-style
                  regularisation, inverse dynamics and held-out diagnostics;
    3. evaluate — Mode-2 model-predictive control on cross-room tasks from seeds never used for
                  data, beside two baselines: random actions and the same planner driving the
                  true simulator (the planner's upper bound);
    4. report   — plots, a GIF, report.md and summary.json in ``runs/<name>/``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from hjepa.data.trajectories import TrajectoryDataset, save_trajectories
from hjepa.data.windows import WindowSampler
from hjepa.envs.random_walk import RandomWalkPolicy, collect_random_walks, collection_meta
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.objective import WorldModelLossWeights
from hjepa.world.train import TrainConfig, TrainResult, train_world_model


@dataclass(frozen=True)
class DataConfig:
    """Reward-free exploration data."""

    episodes: int = 4000
    """Random-walk episodes to collect."""
    steps: int = 100
    """Environment steps per episode."""
    kappa: float = 5.0
    """Von Mises concentration of the heading noise (larger: straighter walks)."""
    step_mean: float = 1.0
    """Mean step length (pixels)."""
    step_std: float = 0.4
    """Std of the step length (pixels)."""
    doorway_start_fraction: float = 0.5
    """Fraction of episodes that start inside the doorway (more windows that cross the door)."""
    heldout_episodes: int = 300
    """Extra episodes (another seed) for the held-out diagnostics."""
    wall_band: tuple[int, int] | None = None
    """Hold out this inclusive band of wall x positions from training data (generalisation test)."""
    door_band: tuple[float, float] | None = None
    """Hold out this band of door y positions from training data (generalisation test)."""


@dataclass(frozen=True)
class PlanConfig:
    """Mode-2 planning (model-predictive control) settings."""

    planner: Literal["mppi", "cem", "gradient"] = "mppi"
    """Which optimiser searches the action sequence."""
    horizon: int = 16
    """Planner steps (each is ``frameskip`` environment steps with the action held)."""
    samples: int = 128
    """Candidate plans per iteration (MPPI/CEM) or restarts (gradient)."""
    iterations: int = 3
    """Optimiser iterations per decision (with warm start from the previous decision)."""
    elites: int = 32
    """Elite plans kept by MPPI/CEM."""
    noise_std: float = 2.0
    """Initial sampling std of the actions (pixels per step)."""
    temperature: float = 0.5
    """MPPI temperature (costs are normalised by their spread first)."""
    min_over_horizon: bool = True
    """Cost = the closest the plan gets to the goal (else the distance at the last step)."""


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation episodes."""

    episodes: int = 100
    """Cross-room episodes per controller."""
    seed: int = 10_000
    """Seed of the evaluation tasks (never used for data collection)."""
    baselines: bool = True
    """Also evaluate random actions and the planner on the true simulator."""
    record: int = 8
    """Episodes drawn in the path plot and the GIF."""


@dataclass(frozen=True)
class TwoRoomsJob:
    """Collect Two Rooms data, train a JEPA world model, plan to cross-room goals, report."""

    name: str = "two-rooms"
    """Run name: results go to ``<runs_root>/<name>/``."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    overwrite: bool = False
    """Replace an existing run of the same name (the old one is moved aside, never deleted)."""
    seed: int = 0
    """Seed of data collection, initialisation and training: the same seed repeats the run."""
    layout: Literal["random", "fixed"] = "random"
    """Random wall and door per episode (the model must read them from pixels) or one fixed layout."""
    threads: int = 0
    """Torch CPU threads (0: leave torch's default)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """bf16 autocast for the encoder: 'auto' uses it only where the CPU supports bf16 natively."""
    progress: bool = True
    """Show progress bars."""
    env: TwoRoomsConfig = field(default_factory=TwoRoomsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: WorldModelConfig = field(default_factory=WorldModelConfig)
    loss: WorldModelLossWeights = field(default_factory=WorldModelLossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def resolve_bf16(precision: str) -> bool:
    """Whether to use bf16 autocast: 'auto' picks it only on CPUs with native bf16 (AVX512-BF16
    or AMX), where it is 1.5-3x faster; elsewhere emulated bf16 can be 10x slower."""
    if precision == "bf16":
        return True
    if precision == "fp32":
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def make_env(job: TwoRoomsJob) -> TwoRooms:
    """The environment the job describes (``layout='fixed'`` overrides ``env.fixed_layout``)."""
    config = job.env
    if (job.layout == "fixed") != config.fixed_layout:
        config = TwoRoomsConfig(**{**vars(config), "fixed_layout": job.layout == "fixed"})
    return TwoRooms(config)


def training_wall_choices(env: TwoRooms, data: DataConfig) -> tuple[torch.Tensor | None, tuple[float, float] | None]:
    """Wall x positions and door y ranges allowed in training data, given the held-out bands."""
    wall_choices = None
    if data.wall_band is not None:
        lo, hi = env.config.wall_x_range
        all_x = torch.arange(lo, hi + 1)
        wall_choices = all_x[(all_x < data.wall_band[0]) | (all_x > data.wall_band[1])]
        if len(wall_choices) == 0:
            raise ValueError(f"data.wall_band {data.wall_band} leaves no wall position for training")
    door_range = None
    if data.door_band is not None:
        # Sampling outside a band is done by rejection in collect(); here we keep the full range.
        door_range = env.config.door_y_range
    return wall_choices, door_range


def collect(job: TwoRoomsJob, env: TwoRooms, seed: int, episodes: int) -> TrajectoryDataset:
    """Reward-free random walks (outside the held-out bands, if any) as a dataset."""
    policy = RandomWalkPolicy(
        kappa=job.data.kappa, step_mean=job.data.step_mean, step_std=job.data.step_std,
        max_step=env.config.max_step,
    )
    wall_choices, _ = training_wall_choices(env, job.data)
    arrays = collect_random_walks(
        env, policy, episodes, job.data.steps, seed, wall_x_choices=wall_choices,
        doorway_start_fraction=job.data.doorway_start_fraction,
    )
    if job.data.door_band is not None:
        lo, hi = job.data.door_band
        keep = (arrays["door_y"] < lo) | (arrays["door_y"] > hi)
        arrays = {k: v[keep] for k, v in arrays.items()}
    return TrajectoryDataset.from_arrays(arrays)
