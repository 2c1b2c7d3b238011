"""`hjepa maze`: a two-level JEPA world model from reward-free walks, hierarchical planning to goals
several rooms away, beside flat planning with the same level-1 model.

Stages:
    1. collect  — long random walks in the maze that keep pushing at walls (trajectory format);
    2. level 1  — a Two Rooms-style JEPA world model (``hjepa.world.train.train_world_model``);
    3. level 2  — abstraction, latent macro-actions and predictor over ``k`` level-1 steps, on
                  the same data with level 1 frozen (``hjepa.world.hierarchy_train``), then a
                  temporal distance between level-2 states learned on the walks
                  (``hjepa.world.temporal_distance``; with ``plan.level2_search 'distance'``);
    4. evaluate — hierarchical Mode-2 (level 2 searches subgoals, level 1 reaches them) and flat
                  Mode-2 (MPPI over a long horizon at level 1) on tasks 1..8 rooms apart, from a
                  seed never used for data; success and planning time by distance in rooms;
    5. report   — ``runs/<name>/``: config.json, metrics.jsonl, checkpoints/hierarchy.pt,
                  training_curves.png, paths.png, episodes.gif, report.md, summary.json.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Annotated

import torch
import tyro

from hjepa.control.episodes import run_episodes
from hjepa.control.hierarchical import HierarchicalMPC
from hjepa.control.landmark_level2 import LandmarkLevel2, maze_landmark_graph, walk_states
from hjepa.control.learned import LearnedMPC
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import PlanConfig, make_planner
from hjepa.control.unstick import Unstick
from hjepa.control.worlds import PositionWorld
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import RenderedFrames, WindowSampler
from hjepa.envs.maze import Maze
from hjepa.envs.maze_tasks import sample_maze_tasks
from hjepa.envs.maze_walks import collect_maze_walks, maze_collection_meta
from hjepa.envs.random_walk import RandomWalkPolicy
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError
from hjepa.eval.by_distance import success_by_distance
from hjepa.eval.world_diagnostics import HeldOutDiagnostics, high_level_diagnostics
from hjepa.nn.linear_probe import LinearProbe
from hjepa.planning.distance import DistanceGuidance, distance_to_goal_cost
from hjepa.planning.hierarchical import HierarchicalPlanner
from hjepa.planning.landmarks import LandmarkGraph, LandmarkPlanner
from hjepa.planning.search import SpreadSearch
from hjepa.recipes.maze_config import MazeJob
from hjepa.recipes.maze_report import write_maze_outputs
from hjepa.recipes.run_options import apply_threads, open_run, resolve_device
from hjepa.runs.progress import progress as progress_bar
from hjepa.runs.resume import ResumePoint
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import build_world_model
from hjepa.world.checkpoint import checkpoint_state, load_world_checkpoint
from hjepa.world.hierarchy import HighLevelModel
from hjepa.world.hierarchy_train import train_high_level
from hjepa.world.temporal_distance import TemporalDistance, train_temporal_distance
from hjepa.world.train import train_world_model


def walker(job: MazeJob, env: Maze) -> RandomWalkPolicy:
    d = job.data
    return RandomWalkPolicy(kappa=d.kappa, step_mean=d.step_mean, step_std=d.step_std,
                            max_step=env.config.max_step, resample_on_block=d.resample_on_block)


def collect(job: MazeJob, env: Maze, seed: int, episodes: int) -> Trajectories:
    """Reward-free walks (seed ``seed``) as a dataset."""
    arrays = collect_maze_walks(env, walker(job, env), episodes, job.data.steps, seed, job.data.door_start_fraction)
    return Trajectories.from_arrays(arrays)


def build_level2(job: MazeJob, low_state_dim: int, low_action_dim: int) -> HighLevelModel:
    c = job.level2
    return HighLevelModel(low_state_dim, c.state_dim, c.macro_steps, low_action_dim, c.latent_action_dim,
                          c.latent_dim, c.hidden, c.layers)


def fit_distance(job: MazeJob, env: Maze, low, high: HighLevelModel, walks: Trajectories,
                 generator: torch.Generator, run: RunDir | None = None) -> tuple[TemporalDistance, dict]:
    """Level 2's temporal distance learned on the walks' level-2 states. Walks whose maze looks the same (the
    doors drawn, where they are) share a maze; whether an unreliable door was passable is hidden from it."""
    states = walk_states(env, low, high, walks)  # (E, T', D2)
    layout = walks.layout()
    key = torch.cat([layout.drawn.float(), layout.centre.float()], dim=1)
    mazes = torch.unique(key, dim=0, return_inverse=True)[1]  # (E,) one id per visible layout
    model = TemporalDistance(high.state_dim, job.distance.hidden, job.distance.layers, job.distance.embed_dim)
    bar = progress_bar(job.distance.train.steps, desc="level-2 distance", enabled=job.progress)

    def shown(step: int, loss: float) -> None:
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.3f}")
        if run is not None:
            run.log({"distance/loss": loss}, step=step)

    info = train_temporal_distance(model, states, high.macro_steps, job.distance.train, generator, layouts=mazes,
                                   progress=shown)
    bar.close()
    return model, {"distance_loss": info["loss"], "distance_seconds": info["seconds"], "distance_mazes": int(mazes.max()) + 1}


def level1_planner(job: MazeJob, bound: float):
    """The MPPI both controllers share at level 1 (equal samples x iterations)."""
    p = job.plan
    plan = PlanConfig(planner="mppi", horizon=p.low_horizon, samples=p.samples, iterations=p.iterations,
                      replan_every=1, elites=max(1, p.samples // 4), noise_std=1.0, min_std=0.2, temperature=0.5,
                      max_action=p.max_action)
    return make_planner(plan, 2, bound)


def make_controllers(job: MazeJob, env: Maze, low, high, probe, z_mode: str | None = None,
                     landmarks: LandmarkGraph | None = None, distance: TemporalDistance | None = None) -> dict:
    """name -> controller: the hierarchical planner (if ``job.hierarchical``) and the flat one.

    ``landmarks``: level 2 plans on this graph of the walks' level-2 states
    (:class:`~hjepa.planning.landmarks.LandmarkPlanner`, ``plan.landmark_horizon`` hops) instead of
    searching the learned level-2 predictor. ``distance``: level 2 searches its predictor
    ``plan.distance_horizon`` macro steps ahead scored by this learned distance, and a second flat
    baseline plans with the distance as its cost ("flat (distance)").
    """
    p = job.plan
    bound = min(p.max_action, env.config.max_step)
    frameskip = low.action_dim // 2
    decode = probe.predict if probe is not None else None

    def unstick(offset: int) -> Unstick | None:
        return Unstick(max_norm=bound, generator=torch.Generator().manual_seed(job.eval.seed + offset)) if p.unstick else None

    out = {}
    if job.hierarchical and landmarks is not None:
        planner = HierarchicalPlanner(LandmarkPlanner(landmarks, p.prefer_shorter), level1_planner(job, bound),
                                      p.landmark_horizon, p.low_horizon, p.replan_every)
        out["hierarchical (landmarks)"] = HierarchicalMPC(env, low, LandmarkLevel2(high), planner,
                                                          torch.Generator().manual_seed(job.eval.seed + 1), bound,
                                                          position_decoder=decode, unstick=unstick(3))
    elif job.hierarchical:  # the learned level 2 searched over held directions, scored by the distance or squared
        vocabulary = high.held_direction_actions(tuple(min(s, bound) for s in p.speeds))
        horizon = p.distance_horizon if distance is not None else p.high_horizon
        planner = HierarchicalPlanner(SpreadSearch(vocabulary, p.beam, p.keep_best, p.prefer_shorter),
                                      level1_planner(job, bound), horizon, p.low_horizon, p.replan_every)
        generator = torch.Generator().manual_seed(job.eval.seed + 1)
        if distance is not None:
            d = job.distance
            guidance = DistanceGuidance(distance, d.leak, d.reach, d.goal_weight, d.radius)
            out["hierarchical (distance)"] = HierarchicalMPC(env, low, high, planner, generator, bound, position_decoder=decode,
                                                             unstick=unstick(3), guidance=guidance)
        else:
            mode = z_mode or p.z_mode
            label = "hierarchical" + (f" (z {mode})" if high.latent_dim else "")
            out[label] = HierarchicalMPC(env, low, high, planner, generator, bound, mode, p.z_draws, position_decoder=decode,
                                         unstick=unstick(3), z_temperature=p.z_temperature, z_decay=p.z_decay)
    if job.eval.flat_baseline or not job.hierarchical:
        mpc = ModelPredictiveController(level1_planner(job, bound), p.flat_horizon, frameskip,
                                        torch.Generator().manual_seed(job.eval.seed + 2))
        cost = IntrinsicCost(squared=True, reduce_min=True)
        out["flat"] = LearnedMPC(env, low, mpc, cost.with_goal, position_decoder=decode, max_action_norm=bound,
                                 unstick=unstick(4))
        if distance is not None:
            mpc = ModelPredictiveController(level1_planner(job, bound), job.distance.flat_horizon, frameskip,
                                            torch.Generator().manual_seed(job.eval.seed + 5))
            out["flat (distance)"] = LearnedMPC(env, low, mpc, lambda goal: distance_to_goal_cost(distance, high.abstract, goal),
                                                position_decoder=decode, max_action_norm=bound, unstick=unstick(6))
    return out


def evaluate(job: MazeJob, env: Maze, controllers: dict, tasks: Tasks) -> dict:
    """name -> (EpisodeResult, {rooms apart: (success, episodes)})."""
    world = PositionWorld(env)
    results = {}
    for label, controller in controllers.items():
        result = run_episodes(world, controller, tasks, env.config.max_episode_steps, record=job.eval.record,
                              progress=job.progress, desc="navigation")
        results[label] = (result, success_by_distance(tasks.rooms_apart, result.success))
    return results


def learn_maze(job: MazeJob, env: Maze, dataset: Trajectories, heldout: Trajectories, generator: torch.Generator,
               run: RunDir, point: ResumePoint, saved: tuple[str, dict, dict] | None) -> tuple:
    """Train level 1, then level 2 on it; returns ``(level 1, level 2, probe, diagnostics)``.

    Resume points (``saved`` is ``point.load()``): stage ``level1`` inside level 1's training,
    ``level2`` when it starts and inside its training, ``trained`` when both are done."""
    stage, state, rng = saved if saved is not None else (None, {}, {})
    pool, k1 = job.model.obs_pool, job.model.frameskip
    k2, window2 = job.level2.macro_steps * k1, job.level2_train.window

    def windows(data: Trajectories, window: int, frameskip: int) -> WindowSampler:
        return WindowSampler(data, RenderedFrames(env, data, pool), window, frameskip)

    low, inverse_dynamics = build_world_model(job.model)
    if stage == "trained":
        high = build_level2(job, low.state_dim, low.action_dim)
        low.load_state_dict(state["low"])
        high.load_state_dict(state["high"])
        point.restore_rng(rng)
        return low, high, LinearProbe.from_state_dict(state["probe"]), state["diagnostics"]
    if stage in (None, "level1"):
        if stage == "level1":
            point.restore_rng(rng)
        diagnose = HeldOutDiagnostics(windows(heldout, job.train.window, k1), job.train.eval_windows)
        level1 = train_world_model(
            low, inverse_dynamics, windows(dataset, job.train.window, k1), job.loss, job.train, generator,
            diagnose=diagnose, run=run, show_progress=job.progress,
            checkpoint=lambda train: point.save("level1", {"train": train}), resume=state.get("train"),
        )
        probe, first = diagnose.probe, level1.diagnostics
        high = build_level2(job, low.state_dim, low.action_dim)
        inner = None
        point.save("level2", {"low": low.state_dict(), "high": high.state_dict(), "probe": probe.state_dict(),
                              "diagnostics": first, "train": None})
    else:  # "level2"
        high = build_level2(job, low.state_dim, low.action_dim)
        low.load_state_dict(state["low"])
        high.load_state_dict(state["high"])
        probe, first, inner = LinearProbe.from_state_dict(state["probe"]), state["diagnostics"], state["train"]
        point.restore_rng(rng)
    heldout2 = windows(heldout, window2, k2)
    low.eval()

    def save_level2(train: dict) -> None:
        point.save("level2", {"low": low.state_dict(), "high": high.state_dict(), "probe": probe.state_dict(),
                              "diagnostics": first, "train": train})

    level2 = train_high_level(
        high, low, windows(dataset, window2, k2), job.level2_loss, job.level2_train, generator,
        diagnose=lambda model, g: high_level_diagnostics(model, low, heldout2, 256, g), run=run,
        show_progress=job.progress, checkpoint=save_level2, resume=inner,
    )
    diagnostics = {**first, **level2.diagnostics}
    point.save("trained", {"low": low.state_dict(), "high": high.state_dict(), "probe": probe.state_dict(),
                           "diagnostics": diagnostics})
    return low, high, probe, diagnostics


def run_maze(job: MazeJob) -> dict:
    """The whole job; returns the summary also written to ``runs/<name>/summary.json``.

    ``job.checkpoint`` reuses a trained two-level model (no data collection or training)."""
    checkpoint = job.checkpoint
    t_start = time.perf_counter()
    if job.device != "auto" and resolve_device(job.device).type != "cpu":
        raise InputError(f"hjepa maze runs on the CPU only for now (got --device {job.device}); leave --device auto")
    job = dataclasses.replace(job, device="cpu")
    apply_threads(job.threads)
    stored = load_world_checkpoint(checkpoint, "maze-hierarchy") if checkpoint is not None else None  # refuse bad files first
    run = open_run(job, "maze")
    env = Maze(job.env)
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)
    point = ResumePoint(run, {"train": generator})
    saved = point.load() if job.resume else None

    t0 = time.perf_counter()
    heldout = collect(job, env, job.seed + 1, job.data.heldout_episodes)
    data_seconds, train_seconds, diagnostics = 0.0, 0.0, {}
    if stored is not None:
        low, high, probe = stored.model, stored.level2, stored.probe
        data_source = f"checkpoint {checkpoint}"
    else:
        dataset = collect(job, env, job.seed, job.data.episodes)  # the same walks again when resuming
        if not run.path("data").exists():
            dataset.save(run.path("data"), meta=maze_collection_meta(env, walker(job, env), job.seed, job.data.door_start_fraction))
        data_source = str(run.path("data"))
        data_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        low, high, probe, diagnostics = learn_maze(job, env, dataset, heldout, generator, run, point, saved)
        run.save_checkpoint("hierarchy", checkpoint_state("maze-hierarchy", low, job.model, probe=probe, level2=high))
        train_seconds = time.perf_counter() - t0

    distance = stored.distance if stored is not None else None
    if job.hierarchical and job.plan.level2_search == "distance" and distance is None:
        t0 = time.perf_counter()
        if stored is not None:  # a checkpoint carries no walks: the run's seed draws the same ones again
            dataset = collect(job, env, job.seed, job.data.episodes)
        distance, fitted = fit_distance(job, env, low, high, dataset, generator, run)
        run.save_checkpoint("hierarchy", checkpoint_state("maze-hierarchy", low, job.model, probe=probe, level2=high,
                                                          distance=distance))
        diagnostics = {**diagnostics, **fitted}
        train_seconds += time.perf_counter() - t0

    graph, graph_seconds = None, 0.0
    if job.hierarchical and job.plan.level2_search == "landmarks":
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
    distance = distance if job.plan.level2_search == "distance" else None
    results = evaluate(job, env, make_controllers(job, env, low, high, probe, landmarks=graph, distance=distance), tasks)
    eval_seconds = time.perf_counter() - t0
    timing = {"data_seconds": data_seconds, "train_seconds": train_seconds, "eval_seconds": eval_seconds,
              "total_seconds": time.perf_counter() - t_start}
    if graph is not None:
        timing["landmark_seconds"] = graph_seconds
    return write_maze_outputs(run, job, env, tasks, results, diagnostics, timing, data_source)


@dataclass(frozen=True)
class MazeCommand:
    """Multi-room maze: a two-level JEPA world model (latent macro-actions, optional latent z) from
    reward-free walks, hierarchical planning (--hierarchical, default) beside flat planning."""

    job: Annotated[MazeJob, tyro.conf.arg(name="")] = field(default_factory=MazeJob)

    def run(self) -> dict:
        return run_maze(self.job)
