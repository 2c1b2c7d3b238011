"""Maze hierarchy on test tasks: learned level 2, landmark memory and flat planning, with standard errors.

The distance groups, planner budgets and landmark settings were all chosen on the validation tasks
of ``hierarchy_suite.py`` (task seed 20000 + group, 12 tasks per group). This script draws **test**
tasks from another seed (``--test-seed``, default 40000 + group), ``--episodes`` per group (48), and
measures each controller once, on the same tasks:

- ``hierarchical``: level 2 = the learned level-2 model (spread search over latent macro-actions);
- ``landmarks``: level 2 plans on the landmark graph of the training walks (a memory, the baseline);
- ``flat``: MPPI at level 1 with a horizon that covers the task, same MPPI budget.

``maze`` is the training maze (the fixed snake); ``maze-unseen`` is random layouts (spanning trees),
never seen in training, with the same checkpoint (the landmark graph belongs to the training maze,
so it has no row there).

    python benchmarks/hierarchy_test.py --checkpoint runs/bench/bench-hierarchy-deterministic/checkpoints/hierarchy.pt

Results: ``<out_dir>/hierarchy_test.json``, one row per (env, group, controller, split).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

from common import RESULTS_DIR, write_result
from hierarchy_suite import Config as SuiteConfig
from hierarchy_suite import landmark_graph, train_or_load
from hjepa.envs.maze import Maze, MazeLayout
from hjepa.envs.maze_tasks import reliable_layout, sample_maze_tasks
from hjepa.recipes.maze import evaluate, make_controllers


@dataclass(frozen=True)
class Config:
    """Maze hierarchy, test split."""

    checkpoint: Path
    """An `hjepa maze` checkpoint of the fixed maze (runs/<name>/checkpoints/hierarchy.pt)."""
    groups: tuple[str, ...] = ("5-6", "7-8")
    """Distance groups in rooms, 'lo-hi' inclusive."""
    episodes: int = 48
    """Test tasks per group."""
    test_seed: int = 40_000
    """Seed of the test tasks (+ group index); the validation tasks used 20000."""
    unseen: bool = True
    """Also evaluate on random layouts never seen in training (maze-unseen)."""
    threads: int = 1
    runs_root: Path = Path("runs/bench")
    out_dir: Path = RESULTS_DIR


def layouts_with_distance(env: Maze, n: int, generator: torch.Generator, lo: int, hi: int) -> MazeLayout:
    """``n`` random layouts that hold a pair of rooms ``lo..hi`` doors apart (a random spanning tree of
    the rooms may be too shallow: 11% have no pair 5-6 apart, 58% none 7-8 apart): the first ``n`` such
    of ``8 n`` drawn."""
    drawn = env.sample_layout(8 * n, generator)
    dist = env.room_distances(reliable_layout(env, drawn))  # (8n, R, R)
    keep = ((dist >= lo) & (dist <= hi)).flatten(1).any(1).nonzero().squeeze(1)
    if len(keep) < n:
        raise SystemExit(f"only {len(keep)} of {8 * n} random layouts have rooms {lo}-{hi} doors apart")
    return drawn.index(keep[:n])


def stderr(rate: float, n: int) -> float:
    return (rate * (1.0 - rate) / max(n, 1)) ** 0.5


def rows_for(env_name: str, group: str, results: dict, split: str = "test") -> list[dict]:
    rows = []
    for label, (result, _) in results.items():
        s = result.summary()
        controller = "flat" if label == "flat" else ("landmarks" if "landmark" in label else "hierarchical")
        n = int(s["episodes"])
        rows.append(
            {
                "env": env_name,
                "group": f"{group} rooms",
                "controller": controller,
                "split": split,
                "episodes": n,
                "success_rate": s["success_rate"],
                "stderr": stderr(s["success_rate"], n),
                "planning_seconds_per_episode": s["planning_seconds"] / max(n, 1),
                "label": label,
            }
        )
    return rows


def main(config: Config) -> Path:
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    suite = SuiteConfig(checkpoint=config.checkpoint, threads=config.threads, runs_root=config.runs_root)
    job, env, low, high, probe, _, _ = train_or_load(suite)
    graph, graph_note = landmark_graph(suite, job, env, low, high)
    rows = []
    for g, group in enumerate(config.groups):
        lo, hi = (int(v) for v in group.split("-"))
        tasks = sample_maze_tasks(env, config.episodes, torch.Generator().manual_seed(config.test_seed + g), lo, hi)
        learned = evaluate(job, env, make_controllers(job, env, low, high, probe), tasks)
        no_flat = dataclasses.replace(job, eval=dataclasses.replace(job.eval, flat_baseline=False))  # flat ran above
        memory = evaluate(no_flat, env, make_controllers(no_flat, env, low, high, probe, landmarks=graph), tasks)
        rows += rows_for("maze", group, learned) + rows_for("maze", group, memory)
        print(f"maze {group}: " + ", ".join(f"{r['controller']} {r['success_rate']:.2f}" for r in rows[-3:]), flush=True)
    if config.unseen:
        unseen = Maze(dataclasses.replace(env.config, layout="random"))
        for g, group in enumerate(config.groups):
            lo, hi = (int(v) for v in group.split("-"))
            generator = torch.Generator().manual_seed(config.test_seed + 100 + g)
            layout = layouts_with_distance(unseen, config.episodes, generator, lo, hi)
            tasks = sample_maze_tasks(unseen, config.episodes, generator, lo, hi, layout=layout)
            rows += rows_for("maze-unseen", group, evaluate(job, unseen, make_controllers(job, unseen, low, high, probe), tasks))
            print(f"maze-unseen {group}: " + ", ".join(f"{r['controller']} {r['success_rate']:.2f}" for r in rows[-2:]), flush=True)
    notes = (
        f"Checkpoint {config.checkpoint}; test tasks seed {config.test_seed} + group (unseen layouts: + 100 + group); "
        f"{config.episodes} tasks per group; stderr = sqrt(p(1-p)/n).{graph_note} Total {time.perf_counter() - start:.0f} s "
        f"on {torch.get_num_threads()} torch thread(s)."
    )
    columns = ["env", "group", "controller", "split", "episodes", "success_rate", "stderr", "planning_seconds_per_episode"]
    return write_result(
        config.out_dir,
        "hierarchy_test",
        "Maze hierarchy on test tasks: learned level 2, landmarks, flat",
        "Same checkpoint, same tasks and MPPI budget for every controller; success within 3 px of the goal within 400 steps.",
        config,
        columns,
        rows,
        notes=notes,
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
