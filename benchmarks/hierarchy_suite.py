"""Hierarchical vs flat planning in the maze, and z-aware planning in the stochastic maze (issue 5).

Two suites, each trains its two-level world model with `hjepa maze` in-process (or reuses one
with ``--checkpoint``), then evaluates on tasks grouped by start-goal distance in rooms:

- ``deterministic``: the fixed 3 x 3 snake maze. For each group of distances, the same tasks with
  the hierarchical planner (level 2: spread search over latent macro-actions; level 1: MPPI to the
  subgoal) and the flat planner (MPPI at level 1 over a horizon long enough for the task), at
  equal MPPI budget (samples x iterations). Success rate and planning time (controller time,
  batched over the group's episodes) per group. Targets on the longest tasks: >= 30 points higher
  success and >= 3x less planning time than flat.
- ``stochastic``: door 6 (rooms 0 and 3) is drawn open but closed in half of the episodes;
  level 2 has a latent z (1-D). Tasks where that shortcut is shorter than the reliable route;
  hierarchical planning with z fixed at its mean vs expected and worst-case cost over draws.

    python benchmarks/hierarchy_suite.py --suite deterministic --threads 1
    python benchmarks/hierarchy_suite.py --suite stochastic --threads 1
    python benchmarks/hierarchy_suite.py --level2 unrolled-level1 --checkpoint runs/bench/bench-hierarchy-deterministic/checkpoints/hierarchy.pt
    python benchmarks/hierarchy_suite.py --level2 simulator --groups 7-8 --checkpoint ... "--extra-args=--plan.high-horizon 30" --suffix _h30
    python benchmarks/hierarchy_suite.py --level2 landmarks --checkpoint runs/bench/bench-hierarchy-deterministic/checkpoints/hierarchy.pt
"""

from __future__ import annotations

import dataclasses
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import tyro

from common import RESULTS_DIR, write_result
from hjepa.control.landmark_level2 import maze_landmark_graph
from hjepa.data.trajectories import Trajectories
from hjepa.envs.maze import Maze
from hjepa.envs.maze_tasks import reliable_layout, sample_maze_tasks
from hjepa.envs.tasks import Tasks
from hjepa.recipes.maze import MazeCommand, collect, evaluate, make_controllers
from hjepa.world.checkpoint import load_world_checkpoint


@dataclass(frozen=True)
class Config:
    """Hierarchy benchmark suite."""

    suite: Literal["deterministic", "stochastic"] = "deterministic"
    """Which measurement."""
    checkpoint: Path | None = None
    """Reuse this `hjepa maze` checkpoint instead of training (must match the suite's maze)."""
    groups: tuple[str, ...] = ("1-2", "3-4", "5-6", "7-8")
    """Distance groups in rooms (deterministic suite), 'lo-hi' inclusive."""
    episodes: int = 12
    """Tasks per group (deterministic) or in all (stochastic)."""
    extra_args: str = ""
    """`hjepa maze` arguments appended to the training run, one quoted string: --extra-args="--train.steps 30"."""
    runs_root: Path = Path("runs/bench")
    """Where the training run goes (bench-hierarchy-<suite>)."""
    threads: int = 1
    """Torch threads."""
    eval_seed: int = 20_000
    """Seed of the evaluation tasks."""
    out_dir: Path = RESULTS_DIR
    """Where hierarchy_suite_<suite>.json is written."""
    suffix: str = ""
    """Appended to the result name (e.g. '_h30' for a run with another level-2 horizon, '_36' for more episodes)."""
    z_modes: tuple[Literal["mean", "expected", "worst", "inferred"], ...] = ("mean", "expected", "worst", "inferred")
    """Stochastic suite: how the planner treats z (`--plan.z-mode`); 'inferred' weighs the draws by the episode's
    posterior (`--plan.z-temperature`, through --extra-args)."""
    level2: Literal["learned", "distance", "landmarks", "unrolled-level1", "simulator"] = "learned"
    """Deterministic suite: level 2 of the hierarchy is the learned level-2 model, or one of two ablations
    that separate model from planner: the level-1 predictor unrolled k steps with a held action as the
    macro-action and s2 = s1 ('unrolled-level1'), or the maze itself ('simulator': s2 = the level-1
    probe's position, a macro-action a held direction simulated exactly; an upper bound on what a
    perfect level 2 gives this planner and level 1). 'landmarks': level 2 plans on a landmark graph of the
    training walks' learned level-2 states, edges the macro steps the walks made (`--plan.level2-search
    landmarks`; the walks are the checkpoint's run data, or walks collected again with the training seed).
    'distance': the learned level-2 predictor searched one macro step ahead and scored by the learned temporal
    distance the checkpoint holds (`--plan.level2-search distance`), beside flat planning with that distance as
    its cost. The result file gets a suffix for any level 2 but the learned one."""


STOCHASTIC_ARGS = ["--env.unreliable", "6", "--env.door-close-prob", "0.5", "--level2.latent-dim", "1",
                   "--plan.level2-search", "spread"]


def train_or_load(config: Config):
    """(job, env, low, high, probe, summary of the training run or None)."""
    args = ["--name", f"bench-hierarchy-{config.suite}", "--runs-root", str(config.runs_root), "--overwrite",
            "--threads", str(config.threads), "--eval.episodes", "8", "--no-progress"]
    if config.suite == "stochastic":
        args += STOCHASTIC_ARGS + ["--eval.no-flat-baseline"]
    args += shlex.split(config.extra_args)
    command = tyro.cli(MazeCommand, args=args)
    if config.checkpoint is not None:
        stored = load_world_checkpoint(config.checkpoint, "maze-hierarchy")
        low, high, probe = stored.model, stored.level2, stored.probe
        return command.job, Maze(command.job.env), low, high, probe, None, args
    summary = command.run()
    path = config.runs_root / f"bench-hierarchy-{config.suite}" / "checkpoints" / "hierarchy.pt"
    stored = load_world_checkpoint(path, "maze-hierarchy")
    low, high, probe = stored.model, stored.level2, stored.probe
    return command.job, Maze(command.job.env), low, high, probe, summary, args


def shortcut_tasks(env: Maze, n: int, seed: int) -> Tasks:
    """``n`` tasks whose route through the unreliable door is shorter than the reliable route."""
    generator = torch.Generator().manual_seed(seed)
    tasks = sample_maze_tasks(env, 40 * n, generator, min_rooms=3)
    layout = tasks.layout
    optimistic = dataclasses.replace(layout, passable=layout.drawn.clone())  # every drawn door open
    rows = torch.arange(len(tasks))
    a, b = env.room_of(tasks.start), env.room_of(tasks.goal)
    short = env.room_distances(optimistic)[rows, a, b] < env.room_distances(reliable_layout(env, layout))[rows, a, b]
    keep = short.nonzero().squeeze(-1)[:n]
    if len(keep) < n:
        raise ValueError(f"only {len(keep)} shortcut tasks among {len(tasks)}")
    return tasks.index(keep)


class UnrolledLevel1(torch.nn.Module):
    """Level 2 made of level 1: s2 = s1, a macro-action is one environment action (2,) held for
    ``k`` level-1 steps, predicted by unrolling the level-1 predictor (no level-2 learning)."""

    latent_dim = 0

    def __init__(self, low, k: int) -> None:
        super().__init__()
        self.low, self.k = low, k
        self.low_state_dim, self.low_action_dim = low.state_dim, low.action_dim
        self.z_scale = torch.zeros(0)

    def abstract(self, s1):
        return s1

    def step(self, s, u, z=None):
        held = u.repeat(*([1] * (u.dim() - 1)), self.low_action_dim // 2)
        for _ in range(self.k):
            s = self.low.step(s, held)
        return s

    def held_direction_actions(self, speeds, directions: int = 8):
        angle = torch.arange(directions, dtype=torch.float32) * (2 * torch.pi / directions)
        unit = torch.stack([angle.cos(), angle.sin()], -1)
        return torch.cat([speed * unit for speed in speeds])


class SimulatorLevel2(torch.nn.Module):
    """Level 2 replaced by the true maze (an oracle): ``s2`` = the level-1 probe's position of ``s1``
    (D2 = 2), a macro-action is one environment action (2,) held for ``k`` level-1 steps and
    simulated exactly in the task's fixed layout (walls stop the move as in the environment)."""

    latent_dim = 0

    def __init__(self, env: Maze, low, probe, k: int, layout) -> None:
        super().__init__()
        if probe is None:
            raise ValueError("--level2 simulator needs the checkpoint's level-1 position probe")
        self.env, self.probe, self.layout = env, probe, layout.index(torch.zeros(1, dtype=torch.long))
        self.steps = k * (low.action_dim // 2)
        self.low_state_dim, self.low_action_dim = low.state_dim, low.action_dim
        self.z_scale = torch.zeros(0)

    def abstract(self, s1):
        return self.probe.predict(s1.reshape(-1, s1.shape[-1])).reshape(*s1.shape[:-1], 2)

    def step(self, s, u, z=None):
        pos, action = s.reshape(-1, 2), u.reshape(-1, 2)
        layout = self.layout.index(torch.zeros(len(pos), dtype=torch.long))
        for _ in range(self.steps):
            pos = self.env.step(pos, action, layout)
        return pos.reshape(s.shape)

    held_direction_actions = UnrolledLevel1.held_direction_actions


def landmark_graph(config: Config, job, env, low, high):
    """(the landmark graph of the training walks, a note on how it was built)."""
    p = job.plan
    data = config.checkpoint.parent.parent / "data" if config.checkpoint else config.runs_root / f"bench-hierarchy-{config.suite}" / "data"
    start = time.perf_counter()
    if data.is_dir():
        walks, source = Trajectories.load(data), f"the run's walks ({data})"
    else:
        walks, source = collect(job, env, job.seed, job.data.episodes), f"walks collected again with seed {job.seed}"
    walks = walks.index(slice(0, p.landmark_walks))
    graph = maze_landmark_graph(env, low, high, walks, p.landmarks, p.landmark_min_count, p.landmark_max_ratio,
                                torch.Generator().manual_seed(job.seed))
    note = (f" Landmark graph: {len(graph)} landmarks, {int(graph.adjacency.sum())} edges, longest shortest path "
            f"{int(graph.hops.max())} macro steps, from {len(walks)} walks of {source} (min count "
            f"{p.landmark_min_count}, max ratio {p.landmark_max_ratio}), built in {time.perf_counter() - start:.0f} s.")
    return graph, note


def deterministic_rows(config: Config, job, env, low, high, probe, landmarks=None, distance=None) -> list[dict]:
    rows = []
    for g, group in enumerate(config.groups):
        lo, hi = (int(v) for v in group.split("-"))
        tasks = sample_maze_tasks(env, config.episodes, torch.Generator().manual_seed(config.eval_seed + g), lo, hi)
        controllers = make_controllers(job, env, low, high, probe, landmarks=landmarks, distance=distance)
        results = evaluate(job, env, controllers, tasks)
        for label, (result, _) in results.items():
            s = result.summary()
            rows.append({"rooms_apart": group, "controller": label, "success_rate": s["success_rate"],
                         "mean_steps_to_success": s["mean_steps_to_success"] if s["mean_steps_to_success"] == s["mean_steps_to_success"] else None,
                         "planning_seconds": s["planning_seconds"], "planning_ms_per_step": s["planning_ms_per_step"],
                         "decisions": int(s["decisions"]), "episodes": int(s["episodes"])})
        mine = rows[-len(results):]
        flat = next(r for r in mine if r["controller"] == "flat")
        for other in mine:
            if other is not flat:
                other["success_minus_flat"] = other["success_rate"] - flat["success_rate"]
                other["time_ratio_flat_over_hier"] = flat["planning_seconds"] / max(other["planning_seconds"], 1e-9)
    return rows


def door_rates(result, open_door: torch.Tensor) -> dict:
    """Success rates of ``result``'s episodes whose unreliable door was open / closed (None where there were none)."""
    def rate(rows: torch.Tensor) -> float | None:
        return float(result.success[rows].float().mean()) if rows.any() else None

    return {"success_door_open": rate(open_door), "success_door_closed": rate(~open_door)}


def stochastic_rows(config: Config, job, env, low, high, probe, distance=None) -> list[dict]:
    """One row per z mode; with ``distance``, one more: level 2 scored by the learned distance, z at its mean."""
    tasks = shortcut_tasks(env, config.episodes, config.eval_seed)
    open_door = tasks.layout.passable[:, env.config.unreliable[0]]
    rows = []
    for mode in config.z_modes + (("distance",) if distance is not None else ()):
        plan = dataclasses.replace(job.plan, z_mode="mean", level2_search="distance") if mode == "distance" else job.plan
        controllers = make_controllers(dataclasses.replace(job, plan=plan), env, low, high, probe,
                                       z_mode=None if mode == "distance" else mode, distance=distance if mode == "distance" else None)
        results = evaluate(job, env, controllers, tasks)
        for label, (result, _) in results.items():
            s = result.summary()
            rows.append({"z_mode": mode, "controller": label, "success_rate": s["success_rate"],
                         **door_rates(result, open_door), "planning_seconds": s["planning_seconds"],
                         "episodes": int(s["episodes"])})
    return rows


def main(config: Config) -> Path:
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    job, env, low, high, probe, summary, args = train_or_load(config)
    train_seconds = time.perf_counter() - start
    graph, graph_note, distance = None, "", None
    if config.suite == "deterministic":
        if config.level2 == "distance":
            stored = config.checkpoint or config.runs_root / f"bench-hierarchy-{config.suite}" / "checkpoints" / "hierarchy.pt"
            distance = load_world_checkpoint(stored, "maze-hierarchy").distance
            if distance is None:
                raise SystemExit(f"{stored} holds no learned distance: run `hjepa maze --checkpoint {stored}` to add one")
        if config.level2 == "landmarks":
            graph, graph_note = landmark_graph(config, job, env, low, high)
        if config.level2 == "unrolled-level1":
            high = UnrolledLevel1(low, job.level2.macro_steps)
        elif config.level2 == "simulator":
            if env.config.unreliable or env.config.layout != "fixed":
                raise ValueError("--level2 simulator needs the fixed maze (--env.layout fixed, no unreliable doors)")
            high = SimulatorLevel2(env, low, probe, job.level2.macro_steps, env.sample_layout(1))
        rows = deterministic_rows(config, job, env, low, high, probe, graph, distance)
        columns = ["rooms_apart", "controller", "success_rate", "success_minus_flat", "planning_seconds",
                   "time_ratio_flat_over_hier", "planning_ms_per_step", "mean_steps_to_success", "episodes"]
        title = "Maze: hierarchical vs flat planning by start-goal distance"
    else:
        distance = None
        if config.level2 == "distance":
            distance = load_world_checkpoint(config.checkpoint, "maze-hierarchy").distance if config.checkpoint else None
            if distance is None:
                raise SystemExit("--level2 distance needs a --checkpoint that holds a learned distance")
        rows = stochastic_rows(config, job, env, low, high, probe, distance)
        columns = ["z_mode", "controller", "success_rate", "success_door_open", "success_door_closed",
                   "planning_seconds", "episodes"]
        title = "Stochastic maze: planning with z at its mean vs expected / worst case over z"
    world = summary["world_model"] if summary else {}
    trained = 'reused ' + str(config.checkpoint) if config.checkpoint else f'{train_seconds:.0f} s'
    notes = (f"Training run: `hjepa maze {shlex.join(args)}` ({trained}); "
             f"world model diagnostics: " + ", ".join(f"{k} {v:.3g}" for k, v in world.items()) +
             f".{graph_note} Total {time.perf_counter() - start:.0f} s on {torch.get_num_threads()} torch thread(s).")
    suffix = config.suffix
    if config.suite == "deterministic" and config.level2 != "learned":
        suffix = "_" + config.level2.replace("-", "_") + config.suffix
        title += {"landmarks": " (level 2 plans on a landmark graph of the walks)",
                  "distance": " (level 2 scored by a learned temporal distance)",
                  "unrolled-level1": " (level 2 = level 1 unrolled, an ablation)",
                  "simulator": " (level 2 = the true maze, an oracle ablation)"}[config.level2]
    return write_result(
        config.out_dir, f"hierarchy_suite_{config.suite}{suffix}", title,
        "Both planners use the same trained level-1 model and the same MPPI budget (samples x iterations); the flat "
        "planner's horizon covers the task, the hierarchical one plans 8 level-1 steps to a subgoal chosen by level 2 "
        "(spread search over latent macro-actions). planning_seconds: controller time (render, encode, plan) for the "
        "group's episodes, batched. Success: within 3 px of the goal within 400 steps.",
        config, columns, rows, notes=notes,
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
