"""The maze job: a two-level JEPA world model from reward-free walks, hierarchical planning to
goals several rooms away, beside flat planning with the same level-1 model.

Stages:
    1. collect  — long random walks in the maze that keep pushing at walls (trajectory format);
    2. level 1  — a Two Rooms-style JEPA world model (``hjepa.world.train.train_world_model``);
    3. level 2  — abstraction, latent macro-actions and predictor over ``k`` level-1 steps, on
                  the same data with level 1 frozen (``hjepa.world.hierarchy_train``);
    4. evaluate — hierarchical Mode-2 (level 2 searches subgoals, level 1 reaches them) and flat
                  Mode-2 (MPPI over a long horizon at level 1) on tasks 1..8 rooms apart, from a
                  seed never used for data; success and planning time by distance in rooms;
    5. report   — ``runs/<name>/``: config.json, metrics.jsonl, checkpoints/hierarchy.pt,
                  training_curves.png, paths.png, episodes.gif, report.md, summary.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from hjepa.data.maze_data import MazeTrajectories, MazeWindowSampler
from hjepa.envs.maze import Maze, MazeConfig
from hjepa.envs.maze_walks import collect_maze_walks, maze_collection_meta
from hjepa.envs.random_walk import RandomWalkPolicy
from hjepa.planning.landmarks import LandmarkGraph
from hjepa.runs.run_dir import RunDir, load_checkpoint
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.hierarchy import HighLevelModel
from hjepa.world.hierarchy_train import HighLevelLossWeights, HighLevelTrainConfig, train_high_level
from hjepa.world.objective import WorldModelLossWeights
from hjepa.world.train import TrainConfig, train_world_model

CHECKPOINT_FORMAT = "hjepa.maze.hierarchy/1"

MAZE_WORLD_MODEL = WorldModelConfig(
    architecture="vector", obs_size=64, obs_pool=4, channels=(32, 64), state_dim=64, predictor_hidden=256,
    predictor_layers=3, frameskip=4,
)
"""Level 1: 64x64 frames pooled to 16x16, two stride-2 conv blocks, a 64-D state, an MLP predictor
over 4 environment steps (one fixed layout: the vector model is enough and cheap to plan with)."""


@dataclass(frozen=True)
class MazeDataConfig:
    """Reward-free exploration data."""

    episodes: int = 2000
    """Random-walk episodes."""
    steps: int = 400
    """Environment steps per episode (long: walks must pass through doors)."""
    kappa: float = 5.0
    """Von Mises concentration of the heading noise."""
    step_mean: float = 1.0
    """Mean step length (pixels)."""
    step_std: float = 0.4
    """Std of the step length (pixels)."""
    resample_on_block: float = 0.0
    """Probability of a new heading after a wall hit (0: keep pushing, which teaches walls)."""
    door_start_fraction: float = 0.3
    """Fraction of episodes starting inside a door opening."""
    heldout_episodes: int = 200
    """Extra episodes (seed + 1) for held-out diagnostics."""

    def __post_init__(self) -> None:
        for name in ("episodes", "steps", "heldout_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Level2Config:
    """Architecture of level 2."""

    state_dim: int = 32
    """Dimension of the abstract state s2 (level 1 has 64)."""
    macro_steps: int = 4
    """k: level-1 steps per level-2 step (k * frameskip environment steps)."""
    latent_action_dim: int = 2
    """Dimension of the latent macro-action."""
    latent_dim: int = 0
    """Dimension of the latent variable z (0: none; the stochastic maze uses 1)."""
    hidden: int = 128
    """Width of the level-2 predictor and macro-action encoder."""
    layers: int = 3
    """Layers of the level-2 predictor."""

    def __post_init__(self) -> None:
        if self.macro_steps < 1:
            raise ValueError(f"level2.macro_steps (k) must be >= 1, got {self.macro_steps}")
        for name in ("state_dim", "latent_action_dim", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"level2.{name} must be >= 1, got {getattr(self, name)}")
        if self.latent_dim < 0:
            raise ValueError(f"level2.latent_dim must be >= 0, got {self.latent_dim}")


@dataclass(frozen=True)
class MazePlanConfig:
    """Planning settings of both planners (MPPI budgets are shared: equal samples x iterations)."""

    max_action: float = 1.2
    """Largest action norm the planners use (pixels per step)."""
    samples: int = 64
    """MPPI samples per iteration (level 1 of the hierarchy and the flat planner)."""
    iterations: int = 2
    """MPPI iterations per decision."""
    low_horizon: int = 8
    """Level-1 horizon of the hierarchical planner (predictor steps)."""
    flat_horizon: int = 40
    """Horizon of the flat planner (predictor steps; 40 x 4 = 160 environment steps)."""
    high_horizon: int = 10
    """Level-2 horizon (macro steps)."""
    beam: int = 32
    """Spread-search frontier per problem at level 2."""
    keep_best: int = 8
    """Lowest-cost plans kept in the frontier (the rest spread out)."""
    prefer_shorter: float = 0.05
    """Spread search returns the shortest plan within this relative cost of the best."""
    speeds: tuple[float, ...] = (1.2, 0.6)
    """Macro-action vocabulary: 8 held directions at each of these speeds, encoded by level 2."""
    replan_every: int = 2
    """Level-1 decisions between level-2 plans."""
    z_mode: Literal["mean", "expected", "worst"] = "mean"
    """With a latent at level 2: plan with z = 0, or score plans by expected / worst cost over draws."""
    z_draws: int = 8
    """Draws of z for 'expected' and 'worst'."""
    level2_search: Literal["spread", "landmarks"] = "spread"
    """Level 2 plans by spread search over the learned level-2 predictor, or on a landmark graph of the
    walks' level-2 states whose edges are the macro steps the walks made (hjepa.planning.landmarks)."""
    landmarks: int = 400
    """Landmarks of the graph (farthest-point sampled level-2 states of the walks)."""
    landmark_min_count: int = 3
    """Macro steps between two landmarks the walks must make for an edge."""
    landmark_max_ratio: float = 0.8
    """A walk's macro step counts for an edge only if both its ends are at most this fraction of the distance
    to their second nearest landmark (states between two landmarks, e.g. by a wall, are ambiguous)."""
    landmark_walks: int = 2000
    """Walks of the dataset the graph is built from (at most data.episodes)."""
    landmark_horizon: int = 48
    """Hops of a landmark plan (enough to cross the maze)."""
    unstick: bool = True
    """Both controllers: when an action the model predicted to move the agent did not (a wall's or door's edge
    the model lets it pass), take one random action of full norm and plan afresh (hjepa.agent.unstick). Measured on
    the landmark hierarchy's 1-2-room tasks: 83% -> 100%, both failures had stood still against an edge."""

    def __post_init__(self) -> None:
        for name in ("samples", "iterations", "low_horizon", "flat_horizon", "high_horizon", "beam", "replan_every", "z_draws",
                     "landmark_min_count", "landmark_walks", "landmark_horizon"):
            if getattr(self, name) < 1:
                raise ValueError(f"plan.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.landmark_max_ratio <= 1:
            raise ValueError(f"plan.landmark_max_ratio must be in (0, 1], got {self.landmark_max_ratio}")
        if self.landmarks < 2:
            raise ValueError(f"plan.landmarks must be >= 2, got {self.landmarks}")
        if self.samples < 4:
            raise ValueError(f"plan.samples must be >= 4, got {self.samples}")
        if not 0 <= self.keep_best <= self.beam:
            raise ValueError(f"plan.keep_best must be in [0, plan.beam={self.beam}], got {self.keep_best}")
        if not self.max_action > 0 or not self.speeds or min(self.speeds) <= 0:
            raise ValueError("plan.max_action and plan.speeds must be positive")


@dataclass(frozen=True)
class MazeEvalConfig:
    """Evaluation episodes."""

    episodes: int = 48
    """Tasks per controller (start and goal min_rooms..max_rooms doors apart)."""
    min_rooms: int = 1
    """Smallest start-goal distance in rooms."""
    max_rooms: int = 8
    """Largest start-goal distance in rooms."""
    seed: int = 10_000
    """Seed of the evaluation tasks (never used for data)."""
    flat_baseline: bool = True
    """Also evaluate flat planning (with the hierarchical planner)."""
    record: int = 4
    """Episodes drawn in the path plot and the GIF."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or not 0 <= self.min_rooms <= self.max_rooms:
            raise ValueError(f"need eval.episodes >= 1 and 0 <= eval.min_rooms <= eval.max_rooms, got "
                             f"{self.episodes}, {self.min_rooms}, {self.max_rooms}")


@dataclass(frozen=True)
class MazeJob:
    """Collect maze walks, train a two-level JEPA world model, plan hierarchically (and flat), report."""

    name: str = "maze"
    """Run name: results go to <runs_root>/<name>/."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    overwrite: bool = False
    """Replace an existing run of the same name (moved aside, never deleted)."""
    seed: int = 0
    """Seed of data, initialisation and training."""
    hierarchical: bool = True
    """Plan with the hierarchical planner (else only the flat planner)."""
    threads: int = 0
    """Torch CPU threads (0: leave torch's default)."""
    progress: bool = True
    """Show progress bars."""
    env: MazeConfig = field(default_factory=MazeConfig)
    data: MazeDataConfig = field(default_factory=MazeDataConfig)
    model: WorldModelConfig = MAZE_WORLD_MODEL
    loss: WorldModelLossWeights = field(default_factory=WorldModelLossWeights)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=800, eval_every=400))
    level2: Level2Config = field(default_factory=Level2Config)
    level2_loss: HighLevelLossWeights = field(default_factory=HighLevelLossWeights)
    level2_train: HighLevelTrainConfig = field(default_factory=lambda: HighLevelTrainConfig(steps=6000))
    """Level 2 trains for 6000 steps (about 2.5 CPU-minutes): measured against 800, its position probe goes from
    6.3 to 2.2 px and its one-step error from 0.50 to 0.22 of the states' variance."""
    plan: MazePlanConfig = field(default_factory=MazePlanConfig)
    eval: MazeEvalConfig = field(default_factory=MazeEvalConfig)

    def __post_init__(self) -> None:
        if self.plan.z_mode != "mean" and self.level2.latent_dim == 0:
            raise ValueError(f"plan.z_mode {self.plan.z_mode!r} needs a latent at level 2: set level2.latent_dim >= 1")
        if self.model.obs_size != self.env.size:
            raise ValueError(f"model.obs_size {self.model.obs_size} does not match the maze's {self.env.size} px")
        if self.train.steps is None:
            raise ValueError("train.steps must be set")
        if self.plan.level2_search == "landmarks" and (self.env.layout != "fixed" or self.env.unreliable):
            raise ValueError("plan.level2_search 'landmarks' remembers one maze: it needs env.layout 'fixed' and no "
                             "env.unreliable doors")


def walker(job: MazeJob, env: Maze) -> RandomWalkPolicy:
    d = job.data
    return RandomWalkPolicy(kappa=d.kappa, step_mean=d.step_mean, step_std=d.step_std,
                            max_step=env.config.max_step, resample_on_block=d.resample_on_block)


def collect(job: MazeJob, env: Maze, seed: int, episodes: int) -> MazeTrajectories:
    """Reward-free walks (seed ``seed``) as a dataset."""
    arrays = collect_maze_walks(env, walker(job, env), episodes, job.data.steps, seed, job.data.door_start_fraction)
    return MazeTrajectories.from_arrays(arrays)


def build_level2(job: MazeJob, low_state_dim: int, low_action_dim: int) -> HighLevelModel:
    c = job.level2
    return HighLevelModel(low_state_dim, c.state_dim, c.macro_steps, low_action_dim, c.latent_action_dim,
                          c.latent_dim, c.hidden, c.layers)


def save_hierarchy(run: RunDir, low, model_config: WorldModelConfig, high: HighLevelModel, probe) -> Path:
    """Checkpoint (``torch.load(weights_only=True)``): both levels, their architecture, the probe."""
    return run.save_checkpoint("hierarchy", {
        "format": CHECKPOINT_FORMAT, "model_config": model_config.to_dict(), "model": low.state_dict(),
        "level2_config": high.config(), "level2": high.state_dict(), "probe": probe.state_dict() if probe else {},
    })


def load_hierarchy(path: Path):
    """(level-1 model, level-2 model, probe or None, level-1 config) from :func:`save_hierarchy`."""
    from hjepa.eval.probe import LinearProbe

    state = load_checkpoint(path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a maze hierarchy checkpoint (format {state.get('format')!r})")
    config = WorldModelConfig.from_dict(state["model_config"])
    low, _ = build_world_model(config)
    try:
        high = HighLevelModel(**state["level2_config"])
        low.load_state_dict(state["model"])
        high.load_state_dict(state["level2"])
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"{path}: weights do not match the stored architecture: {error}") from error
    if high.low_state_dim != low.state_dim:
        raise ValueError(f"{path}: level 2 expects {high.low_state_dim}-dim level-1 states, level 1 has {low.state_dim}")
    probe = LinearProbe.from_state_dict(state["probe"]) if state.get("probe") else None
    low.eval()
    high.eval()
    return low, high, probe, config


def make_controllers(job: MazeJob, env: Maze, low, high, probe, z_mode: str | None = None,
                     landmarks: LandmarkGraph | None = None) -> dict:
    """name -> controller: the hierarchical planner (if ``job.hierarchical``) and the flat one.

    ``landmarks``: level 2 plans on this graph of the walks' level-2 states
    (:class:`~hjepa.planning.landmarks.LandmarkPlanner`, ``plan.landmark_horizon`` hops) instead of
    searching the learned level-2 predictor.
    """
    from hjepa.agent.cost import IntrinsicCost
    from hjepa.agent.mpc import ModelPredictiveController
    from hjepa.eval.maze_navigation import HierarchicalMPC
    from hjepa.eval.navigation import LearnedMPC
    from hjepa.planning.hierarchical import HierarchicalPlanner
    from hjepa.planning.mppi import MPPI
    from hjepa.planning.search import SpreadSearch

    p = job.plan
    bound = min(p.max_action, env.config.max_step)
    frameskip = low.action_dim // 2

    def mppi() -> MPPI:
        return MPPI(2, -bound, bound, samples=p.samples, iterations=p.iterations, noise_std=1.0, temperature=0.5,
                    elites=max(1, p.samples // 4), adapt_std=True, min_std=0.2, max_std=bound, normalize_costs=True)

    decode = probe.predict if probe is not None else None

    def unstick(offset: int):
        from hjepa.agent.unstick import Unstick

        return Unstick(max_norm=bound, generator=torch.Generator().manual_seed(job.eval.seed + offset)) if p.unstick else None

    out = {}
    if job.hierarchical and landmarks is not None:
        from hjepa.eval.maze_landmarks import LandmarkLevel2
        from hjepa.planning.landmarks import LandmarkPlanner

        planner = HierarchicalPlanner(LandmarkPlanner(landmarks, p.prefer_shorter), mppi(), p.landmark_horizon,
                                      p.low_horizon, p.replan_every)
        out["hierarchical (landmarks)"] = HierarchicalMPC(env, low, LandmarkLevel2(high), planner,
                                                          torch.Generator().manual_seed(job.eval.seed + 1), bound,
                                                          position_decoder=decode, unstick=unstick(3))
    elif job.hierarchical:
        vocabulary = high.held_direction_actions(tuple(min(s, bound) for s in p.speeds))
        planner = HierarchicalPlanner(SpreadSearch(vocabulary, p.beam, p.keep_best, p.prefer_shorter), mppi(),
                                      p.high_horizon, p.low_horizon, p.replan_every)
        mode = z_mode or p.z_mode
        label = "hierarchical" + (f" (z {mode})" if high.latent_dim else "")
        out[label] = HierarchicalMPC(env, low, high, planner, torch.Generator().manual_seed(job.eval.seed + 1), bound,
                                     mode, p.z_draws, position_decoder=decode, unstick=unstick(3))
    if job.eval.flat_baseline or not job.hierarchical:
        mpc = ModelPredictiveController(mppi(), p.flat_horizon, frameskip, torch.Generator().manual_seed(job.eval.seed + 2))
        cost = IntrinsicCost(squared=True, reduce_min=True)
        out["flat"] = LearnedMPC(env, low, mpc, cost.with_goal, position_decoder=decode, max_action_norm=bound,
                                 unstick=unstick(4))
    return out


def evaluate(job: MazeJob, env: Maze, controllers: dict, tasks) -> dict:
    """name -> (NavigationResult, {rooms apart: (success, episodes)})."""
    from hjepa.eval.maze_navigation import navigation_tasks, success_by_distance
    from hjepa.eval.navigation import evaluate_navigation

    nav = navigation_tasks(tasks)
    results = {}
    for label, controller in controllers.items():
        result = evaluate_navigation(env, nav, controller, env.config.max_episode_steps, env.config.success_radius,
                                     record=job.eval.record, progress=job.progress)
        results[label] = (result, success_by_distance(tasks.rooms_apart, result.success))
    return results


def run_maze(job: MazeJob, checkpoint: Path | None = None) -> dict:
    """The whole job; returns the summary also written to ``runs/<name>/summary.json``."""
    from hjepa.envs.maze_tasks import sample_maze_tasks
    from hjepa.pipelines.maze_report import write_maze_outputs

    t_start = time.perf_counter()
    if job.threads > 0:
        torch.set_num_threads(job.threads)
    stored = load_hierarchy(checkpoint) if checkpoint is not None else None  # refuse bad files before the run dir
    run = RunDir.create(job.runs_root, job.name, overwrite=job.overwrite)
    run.write_config(job)
    env = Maze(job.env)
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)

    t0 = time.perf_counter()
    heldout = collect(job, env, job.seed + 1, job.data.heldout_episodes)
    data_seconds, train_seconds, diagnostics = 0.0, 0.0, {}
    if stored is not None:
        low, high, probe, model_config = stored
        data_source = f"checkpoint {checkpoint}"
    else:
        dataset = collect(job, env, job.seed, job.data.episodes)
        dataset.save(run.path("data"), maze_collection_meta(env, walker(job, env), job.seed, job.data.door_start_fraction))
        data_source = str(run.path("data"))
        data_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        model_config = job.model
        low, inverse_dynamics = build_world_model(model_config)
        pool, k1 = model_config.obs_pool, model_config.frameskip
        level1 = train_world_model(
            low, inverse_dynamics, MazeWindowSampler(dataset, env, job.train.window, k1, pool),
            MazeWindowSampler(heldout, env, job.train.window, k1, pool), job.loss, job.train, generator,
            run=run, show_progress=job.progress,
        )
        probe = level1.probe
        high = build_level2(job, low.state_dim, low.action_dim)
        k2 = job.level2.macro_steps * k1
        window2 = job.level2_train.window
        level2 = train_high_level(
            high, low, MazeWindowSampler(dataset, env, window2, k2, pool), MazeWindowSampler(heldout, env, window2, k2, pool),
            job.level2_loss, job.level2_train, generator, run=run, show_progress=job.progress,
        )
        diagnostics = {**level1.diagnostics, **level2.diagnostics}
        save_hierarchy(run, low, model_config, high, probe)
        train_seconds = time.perf_counter() - t0

    graph, graph_seconds = None, 0.0
    if job.hierarchical and job.plan.level2_search == "landmarks":
        from hjepa.eval.maze_landmarks import maze_landmark_graph

        t0 = time.perf_counter()
        if stored is not None:  # a checkpoint carries no walks: the run's seed draws the same ones again
            dataset = collect(job, env, job.seed, job.data.episodes)
        graph = maze_landmark_graph(env, low, high, dataset.index(slice(0, job.plan.landmark_walks)), job.plan.landmarks,
                                    job.plan.landmark_min_count, job.plan.landmark_max_ratio, generator)
        graph_seconds = time.perf_counter() - t0
        diagnostics = {**diagnostics, "landmarks": len(graph), "landmark_edges": int(graph.adjacency.sum()),
                       "landmark_longest_path": int(graph.hops.max())}
    t0 = time.perf_counter()
    tasks = sample_maze_tasks(env, job.eval.episodes, torch.Generator().manual_seed(job.eval.seed),
                              job.eval.min_rooms, job.eval.max_rooms)
    results = evaluate(job, env, make_controllers(job, env, low, high, probe, landmarks=graph), tasks)
    eval_seconds = time.perf_counter() - t0
    timing = {"data_seconds": data_seconds, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
              "total_seconds": time.perf_counter() - t_start}
    if graph is not None:
        timing["landmark_seconds"] = graph_seconds
    return write_maze_outputs(run, job, env, tasks, results, diagnostics, timing, data_source)
