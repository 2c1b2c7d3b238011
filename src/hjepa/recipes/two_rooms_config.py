"""Configuration of the Two Rooms commands (`hjepa two-rooms`, `hjepa collect`, `hjepa evaluate`):
plain dataclasses turned into the CLI by tyro, and the defaults of the fixed-layout quick mode."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from hjepa.control.plan_config import PlanConfig
from hjepa.envs.random_walk import check_walk_settings
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.errors import InputError, check_seed
from hjepa.recipes.run_options import RunOptions
from hjepa.world.build import VECTOR_WORLD_MODEL, WorldModelConfig
from hjepa.world.objective import WorldModelLossWeights
from hjepa.world.train import TrainConfig

MIN_KEPT_DOOR_FRACTION = 0.1
"""data.door_band may hold out at most 90% of env.door_y_range: collection draws about 1.2 / (kept
fraction) walks per kept one (rejection sampling), so a band leaving less would take unbounded time."""

BAND_DRAWS = 4
"""Rejection sampling outside data.door_band draws at most this many times, each twice as many walks
(or practice tasks) as the last, before it gives up with an :class:`InputError`; the first draw is
sized so that falling short is rare."""


def check_band_shape(wall_name: str, wall_band: tuple[int, int] | None, door_name: str,
                     door_band: tuple[float, float] | None, open_door_band: bool) -> None:
    """A wall band ``(low, high)`` with low <= high; a door band of finite numbers with low < high
    (``open_door_band``: a held-out band must have a width) or low <= high."""
    if wall_band is not None and not wall_band[0] <= wall_band[1]:
        raise InputError(f"{wall_name} {tuple(wall_band)} is empty: give (low, high) with low <= high")
    if door_band is not None:
        low, high = door_band
        if not (math.isfinite(low) and math.isfinite(high) and (low < high if open_door_band else low <= high)):
            raise InputError(f"{door_name} {tuple(door_band)} must be two finite numbers (low, high) with "
                             f"low {'<' if open_door_band else '<='} high")


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
    resample_on_block: float = 0.0
    """Probability that a walker stopped by a wall draws a new heading (else it keeps pushing).
    Lower values give more steps spent pressing against walls, which is what teaches the world
    model that walls stop the agent."""
    doorway_start_fraction: float = 0.5
    """Fraction of episodes that start inside the doorway (more windows that cross the door)."""
    heldout_episodes: int = 300
    """Extra episodes (another seed) for the held-out diagnostics."""
    wall_band: tuple[int, int] | None = None
    """Hold out this inclusive band of wall x positions from training data (generalisation test)."""
    door_band: tuple[float, float] | None = None
    """Hold out this band of door y positions from training data (generalisation test)."""

    def __post_init__(self) -> None:
        # Checked here so a bad value is refused before a run directory is created.
        for name in ("episodes", "steps", "heldout_episodes"):
            if getattr(self, name) < 1:
                raise InputError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.doorway_start_fraction <= 1.0:
            raise InputError(f"data.doorway_start_fraction must be in [0, 1], got {self.doorway_start_fraction}")
        check_walk_settings(self.kappa, self.step_mean, self.step_std, self.resample_on_block, "data.")
        check_band_shape("data.wall_band", self.wall_band, "data.door_band", self.door_band, open_door_band=True)


@dataclass(frozen=True)
class PracticeConfig:
    """Practice after training: plan toward practice goals with the model, execute the plans in the
    environment, and train on what really happened (observations and actions only, no reward;
    see hjepa.agent.practice). It teaches the model the places where its plans fooled it."""

    rounds: int = 5
    """Practice rounds (0: no practice). Each plans ``tasks`` episodes with the current model,
    then trains ``steps`` steps on exploration and all practice episodes so far."""
    tasks: int = 256
    """Practice episodes per round (cross-room tasks from seeds never used for evaluation)."""
    steps: int = 300
    """Training steps per round."""
    fraction: float = 0.5
    """Fraction of each training batch drawn from practice episodes (the rest: exploration data)."""
    lr: float = 5e-4
    """Peak learning rate while practising (warm-up and cosine decay within each round)."""

    def __post_init__(self) -> None:
        for name in ("rounds", "tasks", "steps"):
            if getattr(self, name) < 0 or (name != "rounds" and getattr(self, name) < 1):
                raise InputError(f"practice.{name} must be >= {0 if name == 'rounds' else 1}, got {getattr(self, name)}")
        if not 0.0 < self.fraction <= 1.0:
            raise InputError(f"practice.fraction must be in (0, 1], got {self.fraction}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"practice.lr must be a positive finite number, got {self.lr}")


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
    wall_band: tuple[int, int] | None = None
    """Draw evaluation layouts with the wall's x in this inclusive band only (e.g. data.wall_band)."""
    door_band: tuple[float, float] | None = None
    """Draw evaluation layouts with the door's y in this band only (e.g. data.door_band)."""
    protocol: Literal["hjepa", "stable-wm"] = "hjepa"
    """'hjepa': cross-room tasks (start in one room, goal anywhere in the other, max_episode_steps,
    stop at success). 'stable-wm': stable-worldmodel's protocol: start at a state of a privileged
    expert's trajectory, goal its state goal_steps later, budget_steps steps, success the first time
    and at the final step; with plan.* left at the defaults, CEM 300 x 30, top 30, horizon 5, re-planned
    every planner step (hjepa.recipes.two_rooms_protocol)."""
    goal_steps: int = 25
    """stable-wm: the goal is the expert trajectory's state this many environment steps later."""
    budget_steps: int = 50
    """stable-wm: environment steps the controller may take."""
    split: Literal["validation", "test"] = "validation"
    """stable-wm: which tasks. Every choice is made on validation tasks (seed eval.seed + 20000); test
    tasks (eval.seed + 30000) are reported once. Neither seed is used for data, practice or the
    cross-room tasks."""

    def __post_init__(self) -> None:
        for name in ("episodes", "goal_steps", "budget_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"eval.{name} must be >= 1, got {getattr(self, name)}")
        check_seed("eval.seed", self.seed)
        check_band_shape("eval.wall_band", self.wall_band, "eval.door_band", self.door_band, open_door_band=False)


@dataclass(frozen=True, kw_only=True)
class TwoRoomsJob(RunOptions):
    """Collect Two Rooms data, train a JEPA world model, plan to cross-room goals, report."""

    name: str = "two-rooms"
    """Run name: results go to ``<runs_root>/<name>/``."""
    dataset: Path | None = None
    """Use this stored dataset (from `hjepa collect`) instead of collecting new data."""
    checkpoint: Path | None = None
    """Use this world-model checkpoint instead of training (e.g. runs/<name>/checkpoints/world_model.pt)."""
    layout: Literal["random", "fixed"] = "random"
    """Random wall and door per episode (the model must read them from pixels) or one fixed layout.
    With 'fixed' and the model and exploration options left at their defaults, the quick mode's
    settings are used: the vector world model, walkers that turn at walls and 2 short practice rounds (see fixed_layout_defaults)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """bf16 autocast for the encoder: 'auto' uses it only where the CPU supports bf16 natively."""
    env: TwoRoomsConfig = field(default_factory=TwoRoomsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: WorldModelConfig = field(default_factory=WorldModelConfig)
    loss: WorldModelLossWeights = field(default_factory=WorldModelLossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    practice: PracticeConfig = field(default_factory=PracticeConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_layout_bands(self.layout, self.env, self.data, self.eval)


def check_layout_bands(layout: str, env: TwoRoomsConfig, data: DataConfig, eval_config: EvalConfig) -> None:
    """The held-out bands against the environment's ranges (raises :class:`InputError` naming the band):
    data bands must hold something out and leave enough for training (see :data:`MIN_KEPT_DOOR_FRACTION`),
    with the fixed layout they must not hold out its one wall or door; evaluation bands lie inside the ranges."""
    (wall_lo, wall_hi), (door_lo, door_hi) = env.wall_x_range, env.door_y_range
    if layout == "fixed":
        if data.wall_band is not None and data.wall_band[0] <= env.fixed_wall_x <= data.wall_band[1]:
            raise InputError(f"data.wall_band {tuple(data.wall_band)} holds out the fixed layout's wall (x = {env.fixed_wall_x})")
        if data.door_band is not None and data.door_band[0] <= env.fixed_door_y <= data.door_band[1]:
            raise InputError(f"data.door_band {tuple(data.door_band)} holds out the fixed layout's door (y = {env.fixed_door_y})")
    else:
        if data.wall_band is not None:
            low, high = data.wall_band
            if high < wall_lo or low > wall_hi:
                raise InputError(f"data.wall_band {tuple(data.wall_band)} lies outside env.wall_x_range {tuple(env.wall_x_range)}:"
                                 " it holds out nothing")
            if low <= wall_lo and high >= wall_hi:
                raise InputError(f"data.wall_band {tuple(data.wall_band)} leaves no wall position of env.wall_x_range "
                                 f"{tuple(env.wall_x_range)} for training")
        if data.door_band is not None:
            low, high = data.door_band
            if high < door_lo or low > door_hi:
                raise InputError(f"data.door_band {tuple(data.door_band)} lies outside env.door_y_range "
                                 f"{tuple(env.door_y_range)}: it holds out nothing")
            covered = min(high, door_hi) - max(low, door_lo)
            kept = 1.0 - covered / (door_hi - door_lo) if door_hi > door_lo else 0.0
            if kept < MIN_KEPT_DOOR_FRACTION - 1e-9:  # exactly 10% is allowed
                raise InputError(f"data.door_band {tuple(data.door_band)} leaves {kept:.1%} of env.door_y_range "
                                 f"{tuple(env.door_y_range)} for training; leave at least {MIN_KEPT_DOOR_FRACTION:.0%}")
    if eval_config.wall_band is not None and not wall_lo <= eval_config.wall_band[0] <= eval_config.wall_band[1] <= wall_hi:
        raise InputError(f"eval.wall_band {tuple(eval_config.wall_band)} must lie inside env.wall_x_range {tuple(env.wall_x_range)}")
    if eval_config.door_band is not None and not door_lo <= eval_config.door_band[0] <= eval_config.door_band[1] <= door_hi:
        raise InputError(f"eval.door_band {tuple(eval_config.door_band)} must lie inside env.door_y_range {tuple(env.door_y_range)}")


DEFAULT_TRAIN_STEPS = {"random": 1500, "fixed": 600}
"""Training steps when ``train.steps`` is None: the fixed layout is the quick mode."""


def train_config(job: TwoRoomsJob) -> TrainConfig:
    """``job.train`` with its step count resolved for the job's layout."""
    if job.train.steps is not None:
        return job.train
    return dataclasses.replace(job.train, steps=DEFAULT_TRAIN_STEPS[job.layout])


FIXED_LAYOUT_PRACTICE = PracticeConfig(rounds=2, steps=150)
"""The quick mode's practice: 2 rounds of 150 steps (100% on 100 episodes, docs/world_model.md)."""


def fixed_layout_defaults(job: TwoRoomsJob) -> TwoRoomsJob:
    """The job with the fixed layout's own defaults where the user left the random-layout ones.

    Measured (docs/world_model.md): on one fixed layout the vector world model with walkers that
    turn at walls reaches 97-98%, and 100% after two short practice rounds, while the spatial model
    with wall-pushing walkers (the random-layout defaults) reaches 82% and is slower to plan with.
    Options the user set explicitly are kept.
    """
    if job.layout != "fixed":
        return job
    if job.model == WorldModelConfig():
        job = dataclasses.replace(job, model=VECTOR_WORLD_MODEL)
    if job.data.resample_on_block == DataConfig().resample_on_block:
        job = dataclasses.replace(job, data=dataclasses.replace(job.data, resample_on_block=1.0))
    if job.practice == PracticeConfig():
        job = dataclasses.replace(job, practice=FIXED_LAYOUT_PRACTICE)
    return job


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
            raise InputError(f"data.wall_band {data.wall_band} leaves no wall position for training")
    door_range = None
    if data.door_band is not None:
        # Sampling outside a band is done by rejection in collect(); here we keep the full range.
        door_range = env.config.door_y_range
    return wall_choices, door_range


def evaluation_layout_bands(eval_config: EvalConfig) -> tuple[torch.Tensor | None, tuple[float, float] | None]:
    """Wall x choices and door y range of the evaluation tasks (None: the environment's full range)."""
    wall_choices = None
    if eval_config.wall_band is not None:
        lo, hi = eval_config.wall_band
        if lo > hi:
            raise InputError(f"eval.wall_band {eval_config.wall_band} is empty")
        wall_choices = torch.arange(lo, hi + 1)
    door_range = None
    if eval_config.door_band is not None:
        if eval_config.door_band[0] > eval_config.door_band[1]:
            raise InputError(f"eval.door_band {eval_config.door_band} is empty")
        door_range = (float(eval_config.door_band[0]), float(eval_config.door_band[1]))
    return wall_choices, door_range
