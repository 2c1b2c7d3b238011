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

import dataclasses
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
from hjepa.world.build import VECTOR_WORLD_MODEL, WorldModelConfig, build_world_model
from hjepa.world.gating import wall_push_check
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
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.doorway_start_fraction <= 1.0:
            raise ValueError(f"data.doorway_start_fraction must be in [0, 1], got {self.doorway_start_fraction}")


@dataclass(frozen=True)
class PlanConfig:
    """Mode-2 planning (model-predictive control) settings."""

    planner: Literal["mppi", "cem", "gradient"] = "mppi"
    """Which optimiser searches the action sequence."""
    horizon: int = 16
    """Planner steps (each is ``frameskip`` environment steps with the action held)."""
    samples: int = 64
    """Candidate plans per iteration (MPPI/CEM) or restarts (gradient)."""
    iterations: int = 2
    """Optimiser iterations per decision (with warm start from the previous decision)."""
    replan_every: int = 4
    """Decisions per plan: 1 plans at every decision; k > 1 executes the next k - 1 actions of
    each plan open loop (k times less planning per environment step; at most the horizon).
    Measured on the demo's model, 100 episodes: 84% (k=1), 82% (2), 85% (4), 80% (8)."""
    elites: int = 16
    """Elite plans kept by MPPI/CEM."""
    noise_std: float = 2.0
    """Initial sampling std of the actions (pixels per step)."""
    temperature: float = 0.5
    """MPPI temperature (costs are normalised by their spread first)."""
    min_over_horizon: bool = True
    """Cost = the closest the plan gets to the goal (else the distance at the last step)."""
    max_action: float = 2.0
    """Largest action norm the planners may use (pixels per step). The random walks' steps are
    N(1, 0.4), so longer actions would take the world model outside what it has seen."""

    def __post_init__(self) -> None:
        for name in ("horizon", "samples", "iterations", "elites", "replan_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"plan.{name} must be >= 1, got {getattr(self, name)}")
        if self.replan_every > self.horizon:
            raise ValueError(f"plan.replan_every ({self.replan_every}) cannot exceed plan.horizon ({self.horizon})")
        if self.elites > self.samples:
            raise ValueError(f"plan.elites ({self.elites}) cannot exceed plan.samples ({self.samples})")
        if not (self.max_action > 0 and self.noise_std > 0 and self.temperature > 0):
            raise ValueError("plan.max_action, plan.noise_std and plan.temperature must be positive")


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
                raise ValueError(f"practice.{name} must be >= {0 if name == 'rounds' else 1}, got {getattr(self, name)}")
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"practice.fraction must be in (0, 1], got {self.fraction}")
        if not self.lr > 0:
            raise ValueError(f"practice.lr must be positive, got {self.lr}")


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
    """Random wall and door per episode (the model must read them from pixels) or one fixed layout.
    With 'fixed' and the model and exploration options left at their defaults, the quick mode's
    settings are used: the vector world model, walkers that turn at walls and 2 short practice rounds (see fixed_layout_defaults)."""
    threads: int = 0
    """Torch CPU threads (0: leave torch's default)."""
    device: str = "cpu"
    """Torch device of the world model and planner ('cpu', 'cuda', 'cuda:1'...); the environment
    and data stay on the CPU."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """bf16 autocast for the encoder: 'auto' uses it only where the CPU supports bf16 natively."""
    progress: bool = True
    """Show progress bars."""
    env: TwoRoomsConfig = field(default_factory=TwoRoomsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: WorldModelConfig = field(default_factory=WorldModelConfig)
    loss: WorldModelLossWeights = field(default_factory=WorldModelLossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    practice: PracticeConfig = field(default_factory=PracticeConfig)
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
            raise ValueError(f"data.wall_band {data.wall_band} leaves no wall position for training")
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
            raise ValueError(f"eval.wall_band {eval_config.wall_band} is empty")
        wall_choices = torch.arange(lo, hi + 1)
    door_range = None
    if eval_config.door_band is not None:
        if eval_config.door_band[0] > eval_config.door_band[1]:
            raise ValueError(f"eval.door_band {eval_config.door_band} is empty")
        door_range = (float(eval_config.door_band[0]), float(eval_config.door_band[1]))
    return wall_choices, door_range


def exploration_policy(data: DataConfig, env: TwoRooms) -> RandomWalkPolicy:
    """The reward-free random walk that ``data`` describes."""
    return RandomWalkPolicy(
        kappa=data.kappa, step_mean=data.step_mean, step_std=data.step_std, max_step=env.config.max_step,
        resample_on_block=data.resample_on_block,
    )


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


def dataset_meta(job: TwoRoomsJob, env: TwoRooms, seed: int) -> dict:
    """Metadata stored beside a collected dataset (environment, policy, seed, doorway starts)."""
    meta = collection_meta(env, exploration_policy(job.data, env), seed)
    meta["doorway_start_fraction"] = job.data.doorway_start_fraction
    return meta


def collect(job: TwoRoomsJob, env: TwoRooms, seed: int, episodes: int) -> TrajectoryDataset:
    """Reward-free random walks (outside the held-out bands, if any) as a dataset."""
    policy = exploration_policy(job.data, env)
    wall_choices, _ = training_wall_choices(env, job.data)
    drawn = episodes
    if job.data.door_band is not None:
        # Door heights inside the band are rejected: draw enough episodes to keep ``episodes``.
        full_lo, full_hi = env.config.door_y_range
        lo, hi = job.data.door_band
        kept_fraction = 1.0 - max(0.0, min(hi, full_hi) - max(lo, full_lo)) / (full_hi - full_lo)
        if kept_fraction <= 0.0:
            raise ValueError(f"data.door_band {job.data.door_band} leaves no door position for training")
        drawn = int(episodes / kept_fraction * 1.2) + 16
    arrays = collect_random_walks(
        env, policy, drawn, job.data.steps, seed, wall_x_choices=wall_choices,
        doorway_start_fraction=job.data.doorway_start_fraction,
    )
    if job.data.door_band is not None:
        keep = ((arrays["door_y"] < lo) | (arrays["door_y"] > hi)).nonzero().squeeze(-1)[:episodes]
        arrays = {k: v[keep] for k, v in arrays.items()}
    return TrajectoryDataset.from_arrays(arrays)


def make_planner(plan: PlanConfig, env: TwoRooms):
    """The Mode-2 optimiser named by ``plan.planner``, bounded by the environment's step size."""
    from hjepa.planning.cem import CEM
    from hjepa.planning.gradient import GradientPlanner
    from hjepa.planning.mppi import MPPI

    bound = min(plan.max_action, env.config.max_step)
    if plan.planner == "mppi":
        return MPPI(
            2, -bound, bound, samples=plan.samples, iterations=plan.iterations,
            temperature=plan.temperature, noise_std=plan.noise_std, elites=plan.elites,
            adapt_std=True, min_std=0.2, max_std=bound, normalize_costs=True,
        )
    if plan.planner == "cem":
        return CEM(
            2, -bound, bound, samples=plan.samples, elites=plan.elites, iterations=plan.iterations,
            init_std=plan.noise_std, min_std=0.2, momentum=0.1,
        )
    if plan.planner == "gradient":
        return GradientPlanner(2, -bound, bound, iterations=plan.iterations, lr=0.3, restarts=plan.samples)
    raise ValueError(f"unknown planner {plan.planner!r}: choose mppi, cem or gradient")


def save_world_model(run: RunDir, name: str, model, inverse_dynamics, model_config: WorldModelConfig, probe) -> Path:
    """Checkpoint loadable with ``torch.load(path, weights_only=True)``: weights, architecture and
    the (x, y) probe used to draw planned paths."""
    state = {
        "format": "hjepa.two_rooms.world_model/1",
        "model_config": model_config.to_dict(),
        "model": model.state_dict(),
        "inverse_dynamics": inverse_dynamics.state_dict() if inverse_dynamics is not None else {},
        "probe": probe.state_dict() if probe is not None else {},
    }
    return run.save_checkpoint(name, state)


def load_world_model(path: Path):
    """(model, probe or None, model_config) from a checkpoint written by :func:`save_world_model`."""
    from hjepa.eval.probe import LinearProbe
    from hjepa.runs.run_dir import load_checkpoint

    state = load_checkpoint(path)
    if state.get("format") != "hjepa.two_rooms.world_model/1" or "model" not in state or "model_config" not in state:
        raise ValueError(f"{path} is not a Two Rooms world-model checkpoint (format {state.get('format')!r})")
    config = WorldModelConfig.from_dict(state["model_config"])
    model, _ = build_world_model(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not match the stored architecture: {error}") from error
    probe = LinearProbe.from_state_dict(state["probe"]) if state.get("probe") else None
    model.eval()
    return model, probe, config


def evaluate_controllers(job: TwoRoomsJob, env: TwoRooms, model, probe, frameskip: int, tasks) -> dict:
    """Learned-model MPC, plus random actions and simulator MPC baselines: name -> NavigationResult."""
    from hjepa.agent.cost import IntrinsicCost
    from hjepa.agent.mpc import ModelPredictiveController
    from hjepa.eval.navigation import LearnedMPC, RandomController, SimulatorMPC, evaluate_navigation

    def mpc(seed_offset: int) -> ModelPredictiveController:
        generator = torch.Generator().manual_seed(job.eval.seed + seed_offset)
        return ModelPredictiveController(make_planner(job.plan, env), job.plan.horizon, frameskip, generator,
                                         replan_every=job.plan.replan_every)

    def run(controller):
        return evaluate_navigation(
            env, tasks, controller, env.config.max_episode_steps, env.config.success_radius,
            record=job.eval.record, progress=job.progress,
        )

    cost = IntrinsicCost(squared=True, reduce_min=job.plan.min_over_horizon)
    decode = probe.predict if probe is not None else None
    model.eval()

    learned = LearnedMPC(
        env, model, mpc(1), cost.with_goal, position_decoder=decode, max_action_norm=job.plan.max_action,
        bf16=resolve_bf16(job.precision) and str(job.device) == "cpu",
    )
    results = {"JEPA world model + " + job.plan.planner.upper(): run(learned)}
    if job.eval.baselines:
        results["random actions"] = run(RandomController(env, frameskip, torch.Generator().manual_seed(job.eval.seed + 2)))
        results["true simulator + " + job.plan.planner.upper()] = run(SimulatorMPC(env, mpc(3)))
    return results


def build_sampler(dataset: TrajectoryDataset, env: TwoRooms, job: TwoRoomsJob) -> WindowSampler:
    return WindowSampler(dataset, env, window=job.train.window, frameskip=job.model.frameskip, pool=job.model.obs_pool)


PRACTICE_SEED = 100_000
"""Practice round ``r`` draws its tasks from seed ``job.seed + PRACTICE_SEED + r``."""


def practice_tasks(job: TwoRoomsJob, env: TwoRooms, n: int, seed: int):
    """``n`` cross-room practice tasks on layouts the training data may hold (held-out bands excluded)."""
    from hjepa.eval.navigation import NavigationTasks, sample_navigation_tasks

    if seed == job.eval.seed:
        raise ValueError(f"practice seed {seed} equals the evaluation seed: change --seed or --eval.seed")
    wall_choices, _ = training_wall_choices(env, job.data)
    if job.data.door_band is None:
        return sample_navigation_tasks(env, n, seed, wall_choices)
    lo, hi = job.data.door_band
    drawn = sample_navigation_tasks(env, 4 * n + 16, seed, wall_choices)
    keep = ((drawn.layout.door_y < lo) | (drawn.layout.door_y > hi)).nonzero().squeeze(-1)[:n]
    if len(keep) < n:
        raise ValueError(f"data.door_band {job.data.door_band} leaves too few door positions for practice tasks")
    return NavigationTasks(drawn.layout.index(keep), drawn.start[keep], drawn.goal[keep])


def practise(
    job: TwoRoomsJob, env: TwoRooms, model, inverse_dynamics, dataset: TrajectoryDataset,
    heldout: TrajectoryDataset, generator: torch.Generator, run: RunDir, bf16: bool, first_step: int,
) -> tuple[TrainResult, TrajectoryDataset, list[float]]:
    """Practice rounds (see :class:`PracticeConfig`): returns the last round's training result,
    all practice episodes, and per round the fraction of plans that reached their goal when
    executed (before the round's training)."""
    from hjepa.agent.practice import practice_episodes
    from hjepa.data.windows import MixedWindowSampler

    config = job.practice
    explore, heldout_windows = build_sampler(dataset, env, job), build_sampler(heldout, env, job)
    planner = make_planner(job.plan, env)
    steps = dataclasses.replace(
        job.train, steps=config.steps, lr=config.lr, warmup_steps=min(20, config.steps), eval_every=config.steps
    )
    episodes: list[TrajectoryDataset] = []
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
        practice = build_sampler(TrajectoryDataset.concat(episodes), env, job)
        mixed = MixedWindowSampler([explore, practice], [1.0 - config.fraction, config.fraction])
        result = train_world_model(
            model, inverse_dynamics, mixed, heldout_windows, job.loss, steps, generator, run=run, bf16=bf16,
            show_progress=job.progress, step_offset=first_step + r * config.steps,
            desc=f"practice {r + 1}/{config.rounds}",
        )
    assert result is not None
    return result, TrajectoryDataset.concat(episodes), reached


def run_two_rooms(job: TwoRoomsJob, dataset_path: Path | None = None, checkpoint: Path | None = None) -> dict:
    """The whole job; returns the summary also written to ``runs/<name>/summary.json``.

    ``dataset_path`` reuses a stored dataset instead of collecting; ``checkpoint`` reuses a trained
    world model instead of training (then no training curves are drawn).
    """
    from hjepa.eval.navigation import episode_frames, plot_navigation, sample_navigation_tasks
    from hjepa.runs.gif import write_gif
    from hjepa.runs.metrics import read_metrics
    from hjepa.runs.plots import plot_training_curves

    t_start = time.perf_counter()
    job = fixed_layout_defaults(job)
    if job.threads > 0:
        torch.set_num_threads(job.threads)
    # Read the given inputs first, so a missing or corrupt file is refused before a run directory
    # is created (a half-made run would block rerunning the same --name).
    t0 = time.perf_counter()
    stored_dataset = TrajectoryDataset.load(dataset_path) if dataset_path is not None else None
    load_seconds = time.perf_counter() - t0
    stored_model = load_world_model(checkpoint) if checkpoint is not None else None
    if stored_model is None and job.practice.rounds > 0 and job.plan.horizon < job.train.window:
        raise ValueError(
            f"practice episodes last plan.horizon={job.plan.horizon} macro steps, shorter than a training window "
            f"(train.window={job.train.window}): raise --plan.horizon, lower --train.window, or set --practice.rounds 0"
        )
    run = RunDir.create(job.runs_root, job.name, overwrite=job.overwrite)
    run.write_config(job)
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
        dataset = collect(job, env, job.seed, job.data.episodes)
        save_trajectories(run.path("data"), dataset.to_arrays(), dataset_meta(job, env, job.seed))
        data_source = str(run.path("data"))
    heldout = collect(job, env, job.seed + 1, job.data.heldout_episodes)
    data_seconds = time.perf_counter() - t0 + load_seconds

    # 2. world model (and practice) ----------------------------------------------------------
    t0 = time.perf_counter()
    practice: dict = {"rounds": 0}
    if stored_model is not None:
        model, probe, model_config = stored_model
        model.to(job.device)
        from hjepa.world.diagnostics import world_model_diagnostics

        diagnostics, probe = world_model_diagnostics(
            model, build_sampler(heldout, env, job), job.train.eval_windows, torch.Generator().manual_seed(job.seed), bf16
        )
        train_steps = 0
    else:
        model_config = job.model
        model, inverse_dynamics = build_world_model(model_config)
        model.to(job.device)
        inverse_dynamics.to(job.device)
        result: TrainResult = train_world_model(
            model, inverse_dynamics, build_sampler(dataset, env, job), build_sampler(heldout, env, job),
            job.loss, train_config(job), generator, run=run, bf16=bf16, show_progress=job.progress,
        )
        diagnostics, probe, train_steps = result.diagnostics, result.probe, result.steps
        if job.practice.rounds > 0:
            t_practice = time.perf_counter()
            result, practice_data, practice_reached = practise(
                job, env, model, inverse_dynamics, dataset, heldout, generator, run, bf16, first_step=train_steps
            )
            diagnostics, probe = result.diagnostics, result.probe
            practice = {"rounds": job.practice.rounds, "steps": job.practice.rounds * job.practice.steps,
                        "episodes": len(practice_data), "plans_reaching_goal": practice_reached,
                        "seconds": time.perf_counter() - t_practice}
            save_trajectories(run.path("practice"), practice_data.to_arrays(), practice_meta(job, env))
        save_world_model(run, "world_model", model, inverse_dynamics, model_config, probe)
    # Pushed open loop into solid wall, does the model stop the agent? (decoded without a probe)
    push = wall_push_check(model, env, generator=torch.Generator().manual_seed(job.seed + 7))
    diagnostics = {**diagnostics, **{f"push_{k}": v for k, v in push.items()}}
    train_seconds = time.perf_counter() - t0

    # 3. planning -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    eval_wall_choices, eval_door_range = evaluation_layout_bands(job.eval)
    tasks = sample_navigation_tasks(env, job.eval.episodes, job.eval.seed, eval_wall_choices, eval_door_range)
    results = evaluate_controllers(job, env, model, probe, model_config.frameskip, tasks)
    eval_seconds = time.perf_counter() - t0

    # 4. report -------------------------------------------------------------------------------
    learned_name = next(iter(results))
    learned = results[learned_name]
    record = list(range(min(job.eval.record, job.eval.episodes)))
    metrics = read_metrics(run.path("metrics.jsonl")) if run.path("metrics.jsonl").exists() else []
    if metrics:
        plot_training_curves(metrics, None, run.path("training_curves.png"))
    if record:
        plot_navigation(env, tasks, learned, record, run.path("paths.png"))
        frames = episode_frames(env, tasks, learned, record, stride=2)
        write_gif(list(frames), run.path("episodes.gif"), fps=15, scale=3)
    rows = []
    for label, res in results.items():
        s = res.summary()
        rows.append({
            "controller": label,
            "success_rate": s["success_rate"],
            "mean_steps_to_success": s["mean_steps_to_success"] if s["mean_steps_to_success"] == s["mean_steps_to_success"] else None,
            "median_final_distance_px": s["median_final_distance"],
            "planning_ms_per_env_step": s["planning_ms_per_step"],
        })
    total_seconds = time.perf_counter() - t_start
    summary = {
        "success_rate": learned.success_rate,
        "episodes": learned.episodes,
        "planning_ms_per_step": learned.planning_ms_per_step,
        "planning_ms_per_step_per_episode": learned.planning_ms_per_step_per_episode,
        "train_seconds": train_seconds,
        "data_seconds": data_seconds,
        "eval_seconds": eval_seconds,
        "total_seconds": total_seconds,
        "train_steps": train_steps,
        "practice": practice,
        "dataset_episodes": len(dataset),
        "layout": job.layout,
        "bf16": bf16,
        "world_model": diagnostics,
        "controllers": {row["controller"]: row for row in rows},
    }
    run.write_json("summary.json", summary)
    write_two_rooms_report(run, job, summary, rows, diagnostics, data_source)
    return summary


def write_two_rooms_report(run: RunDir, job: TwoRoomsJob, summary: dict, rows: list[dict], diagnostics: dict, data_source: str) -> None:
    from hjepa.runs.report import markdown_table, write_report

    practice = summary["practice"]
    practised = (
        f" including {practice['seconds']:.1f} s of practice ({practice['rounds']} rounds of "
        f"{practice['episodes'] // practice['rounds']} planned episodes and {practice['steps'] // practice['rounds']} steps)"
        if practice["rounds"] else ""
    )
    timing = (
        f"data {summary['data_seconds']:.1f} s, training {summary['train_seconds']:.1f} s "
        f"({summary['train_steps']} steps, bf16={summary['bf16']}){practised}, evaluation {summary['eval_seconds']:.1f} s, "
        f"total {summary['total_seconds']:.1f} s on {torch.get_num_threads()} CPU threads."
    )
    sections = [
        ("Results", f"{summary['episodes']} cross-room episodes ({job.layout} layouts, evaluation seed "
         f"{job.eval.seed}, never used for data), success = within {job.env.success_radius} px of the goal "
         f"within {job.env.max_episode_steps} steps. Planner: {job.plan.planner.upper()} {job.plan.samples} samples x "
         f"{job.plan.iterations} iterations over {job.plan.horizon} predictor steps of {job.model.frameskip} env steps, "
         f"a new plan every {job.plan.replan_every} decision(s); learned-model planning "
         f"{summary['planning_ms_per_step']:.1f} ms per env step for the episodes together, "
         f"{summary['planning_ms_per_step_per_episode']:.2f} ms per episode.\n\n" + markdown_table(rows, float_fmt=".3g")),
        ("World model on held-out data", markdown_table([diagnostics], float_fmt=".3g")
         + "\n\nprobe_rmse_px: linear probe of the agent's (x, y) from the state; rollout_rmse_px: the same probe "
           "on the state predicted a whole window ahead; pred_error_tk: normalised prediction error k steps ahead; "
           "push_*: pushed 16 px to the right open loop, how far the agent really moved (true) and how far the "
           "model says it moved (pred), in the open and against solid wall (see hjepa.world.gating)."),
        *([("Practice", "Plans made by the model for practice tasks and executed open loop in the environment; "
            "the fraction that reached the goal, before each round's training (the model learns where its "
            "plans fooled it): " + ", ".join(f"{x:.0%}" for x in practice["plans_reaching_goal"]) + ".")]
          if practice["rounds"] else []),
        ("Time", timing),
        ("Files", f"config.json, metrics.jsonl, checkpoints/world_model.pt, training_curves.png, paths.png, "
         f"episodes.gif, summary.json. Data: {data_source}."),
    ]
    write_report(run.path("report.md"), f"Two Rooms: {job.name}", sections)
