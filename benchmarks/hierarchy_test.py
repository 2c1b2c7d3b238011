"""Maze hierarchy on test tasks: learned level 2, landmark memory and flat planning, with standard errors.

The distance groups, planner budgets and landmark settings were all chosen on the validation tasks
of ``hierarchy_suite.py`` (task seed 20000 + group, 12 tasks per group). This script draws **test**
tasks from another seed (``--test-seed``, default 40000 + group), ``--episodes`` per group (48), and
measures each controller once, on the same tasks:

- ``hierarchical``: level 2 = the learned level-2 model searched one macro step ahead and scored by
  the learned temporal distance the checkpoint holds (``--plan.level2-search distance``); for a
  checkpoint without a distance, the spread search by squared distance (as before that existed);
- ``hierarchical (spread)``: the learned level 2's spread search by squared distance, beside it;
- ``landmarks``: level 2 plans on the landmark graph of the training walks (a memory, the baseline);
- ``flat``: MPPI at level 1 with a horizon that covers the task, same MPPI budget;
- ``flat (distance)``: the same MPPI with the learned distance as its cost.

``maze`` is the training maze (the fixed snake); ``maze-unseen`` is random layouts (spanning trees
with doors at random places), never seen in training, with ``--unseen-checkpoint`` (a model trained
on other random layouts) or else the fixed maze's checkpoint (the landmark graph belongs to the
training maze, so it has no row there). ``maze-stochastic`` (with ``--stochastic-checkpoint``, a checkpoint of
``hierarchy_suite.py --suite stochastic``): the fixed maze whose shortcut door is closed in half the
episodes, on tasks whose shortest route takes the shortcut, with level 2 planning at z's mean, over
draws of z ('expected') and over draws weighed by the episode's online posterior ('inferred').
``--envs`` picks which envs run; rows of the others already in the result file are kept.

    python benchmarks/hierarchy_test.py --checkpoint runs/bench/bench-hierarchy-deterministic/checkpoints/hierarchy.pt

Results: ``<out_dir>/hierarchy_test.json``, one row per (env, group, controller, split).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import torch
import tyro

from common import RESULTS_DIR, write_result
from hierarchy_suite import Config as SuiteConfig
from hierarchy_suite import door_rates, landmark_graph, shortcut_tasks, train_or_load
from hjepa.envs.maze import Maze, MazeLayout
from hjepa.envs.maze_tasks import reliable_layout, sample_maze_tasks
from hjepa.recipes.maze import evaluate, make_controllers
from hjepa.world.checkpoint import load_world_checkpoint


@dataclass(frozen=True)
class Config:
    """Maze hierarchy, test split."""

    checkpoint: Path | None = None
    """An `hjepa maze` checkpoint of the fixed maze (runs/<name>/checkpoints/hierarchy.pt), for maze and maze-unseen."""
    unseen_checkpoint: Path | None = None
    """An `hjepa maze --env.layout random` checkpoint (trained on other random layouts) for maze-unseen; default: --checkpoint."""
    groups: tuple[str, ...] = ("5-6", "7-8")
    """Distance groups in rooms, 'lo-hi' inclusive."""
    episodes: int = 48
    """Test tasks per group."""
    test_seed: int = 40_000
    """Seed of the test tasks (+ group index); the validation tasks used 20000."""
    envs: tuple[Literal["maze", "maze-unseen", "maze-stochastic"], ...] = ("maze", "maze-unseen")
    """Which envs to measure (rows of other envs already in the result file are kept)."""
    stochastic_checkpoint: Path | None = None
    """A `hjepa maze` checkpoint of the stochastic maze (for maze-stochastic)."""
    stochastic_episodes: int = 100
    """Shortcut tasks of the stochastic maze (test seed + 50)."""
    z_modes: tuple[Literal["mean", "expected", "worst", "inferred"], ...] = ("mean", "expected", "inferred")
    """How level 2 treats z in the stochastic maze."""
    z_temperature: float = 0.1
    """Temperature of the 'inferred' posterior (chosen on the validation tasks of hierarchy_suite.py)."""
    z_decay: float = 0.9
    """Fading of the 'inferred' posterior's evidence per macro step (chosen there too)."""
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


def controller_kind(label: str) -> str:
    """The issue's controller key of a controller label: hierarchical (the headline level 2), landmarks, or the
    label itself (flat, flat (distance))."""
    if "landmark" in label:
        return "landmarks"
    return "hierarchical" if label.startswith("hierarchical") else label


def spread_kind(label: str) -> str:
    """The key of the spread-search level 2 when the learned distance is the headline."""
    return "hierarchical (spread)" if label.startswith("hierarchical") else label


def learned_rows(env_name: str, group: str, job, env, low, high, probe, distance, tasks) -> list[dict]:
    """Rows of the learned level 2 (by the distance, and by spread search beside it) and the flat planners."""
    rows = rows_for(env_name, group, evaluate(job, env, make_controllers(job, env, low, high, probe, distance=distance), tasks))
    if distance is not None:
        spread = dataclasses.replace(job, plan=dataclasses.replace(job.plan, level2_search="spread"),
                                     eval=dataclasses.replace(job.eval, flat_baseline=False))
        results = evaluate(spread, env, make_controllers(spread, env, low, high, probe), tasks)
        rows += rows_for(env_name, group, results, controller_of=spread_kind)
    return rows


def rows_for(env_name: str, group: str, results: dict, split: str = "test", open_door=None,
             controller_of: Callable[[str], str] = controller_kind) -> list[dict]:
    """One row per controller of ``results``; ``open_door (N,)`` adds the success rates by door state."""
    rows = []
    for label, (result, _) in results.items():
        s = result.summary()
        controller = controller_of(label)
        n = int(s["episodes"])
        rows.append(
            {
                "env": env_name,
                "group": group,
                "controller": controller,
                "split": split,
                "episodes": n,
                "success_rate": s["success_rate"],
                "stderr": stderr(s["success_rate"], n),
                "planning_seconds_per_episode": s["planning_seconds"] / max(n, 1),
                "label": label,
                **(door_rates(result, open_door) if open_door is not None else {}),
            }
        )
    return rows


def stochastic_rows(config: Config) -> tuple[list[dict], str]:
    """maze-stochastic rows: one per z mode, on ``stochastic_episodes`` shortcut tasks (test seed + 50)."""
    suite = SuiteConfig(suite="stochastic", checkpoint=config.stochastic_checkpoint, threads=config.threads,
                        runs_root=config.runs_root, extra_args=f"--plan.z-temperature {config.z_temperature} --plan.z-decay {config.z_decay}")
    job, env, low, high, probe, _, _ = train_or_load(suite)
    tasks = shortcut_tasks(env, config.stochastic_episodes, config.test_seed + 50)
    open_door = tasks.layout.passable[:, env.config.unreliable[0]]
    rows = []
    for mode in config.z_modes:
        results = evaluate(job, env, make_controllers(job, env, low, high, probe, z_mode=mode), tasks)
        rows += rows_for("maze-stochastic", "shortcut", results, open_door=open_door, controller_of=lambda label: label)
        print(f"maze-stochastic {mode}: {rows[-1]['success_rate']:.2f}", flush=True)
    note = (f" maze-stochastic: checkpoint {config.stochastic_checkpoint}, {config.stochastic_episodes} shortcut tasks (seed "
            f"{config.test_seed + 50}; the door was open in {int(open_door.sum())}), z temperature {config.z_temperature}, decay {config.z_decay}.")
    return rows, note


def kept_rows(path: Path, measured: set[str]) -> tuple[list[dict], str]:
    """Rows of envs not measured now, from an earlier result file, and a note naming that run."""
    if not path.exists():
        return [], ""
    old = json.loads(path.read_text())
    rows = [r for r in old["rows"] if r["env"] not in measured]
    envs = sorted({r["env"] for r in rows})
    return rows, (f" Rows of {', '.join(envs)} kept from the run of {old['date']} (`{old['command']}`)." if rows else "")


def main(config: Config) -> Path:
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    rows, notes = [], ""
    if "maze" in config.envs or "maze-unseen" in config.envs:
        if config.checkpoint is None:
            raise SystemExit("--envs maze / maze-unseen need --checkpoint")
        suite = SuiteConfig(checkpoint=config.checkpoint, threads=config.threads, runs_root=config.runs_root)
        job, env, low, high, probe, _, _ = train_or_load(suite)
        distance = load_world_checkpoint(config.checkpoint, "maze-hierarchy").distance
    if "maze" in config.envs:
        graph, graph_note = landmark_graph(suite, job, env, low, high)
        notes += graph_note
        for g, group in enumerate(config.groups):
            lo, hi = (int(v) for v in group.split("-"))
            tasks = sample_maze_tasks(env, config.episodes, torch.Generator().manual_seed(config.test_seed + g), lo, hi)
            learned = learned_rows("maze", f"{group} rooms", job, env, low, high, probe, distance, tasks)
            no_flat = dataclasses.replace(job, eval=dataclasses.replace(job.eval, flat_baseline=False))  # flat ran above
            memory = evaluate(no_flat, env, make_controllers(no_flat, env, low, high, probe, landmarks=graph), tasks)
            rows += learned + rows_for("maze", f"{group} rooms", memory)
            print(f"maze {group}: " + ", ".join(f"{r['controller']} {r['success_rate']:.2f}" for r in rows[-len(learned) - 1:]),
                  flush=True)
    if "maze-unseen" in config.envs:
        if config.unseen_checkpoint is not None:
            seen = SuiteConfig(checkpoint=config.unseen_checkpoint, threads=config.threads, runs_root=config.runs_root)
            job, env, low, high, probe, _, _ = train_or_load(seen)
            distance = load_world_checkpoint(config.unseen_checkpoint, "maze-hierarchy").distance
            notes += f" maze-unseen: checkpoint {config.unseen_checkpoint} (trained on other random layouts)."
        unseen = Maze(dataclasses.replace(env.config, layout="random"))
        for g, group in enumerate(config.groups):
            lo, hi = (int(v) for v in group.split("-"))
            generator = torch.Generator().manual_seed(config.test_seed + 100 + g)
            layout = layouts_with_distance(unseen, config.episodes, generator, lo, hi)
            tasks = sample_maze_tasks(unseen, config.episodes, generator, lo, hi, layout=layout)
            learned = learned_rows("maze-unseen", f"{group} rooms", job, unseen, low, high, probe, distance, tasks)
            rows += learned
            print(f"maze-unseen {group}: " + ", ".join(f"{r['controller']} {r['success_rate']:.2f}" for r in learned), flush=True)
    if "maze-stochastic" in config.envs:
        if config.stochastic_checkpoint is None:
            raise SystemExit("--envs maze-stochastic needs --stochastic-checkpoint")
        more, note = stochastic_rows(config)
        rows, notes = rows + more, notes + note
    old, kept_note = kept_rows(Path(config.out_dir) / "hierarchy_test.json", set(config.envs))
    notes = (
        (f"Checkpoint {config.checkpoint}; test tasks seed {config.test_seed} + group (unseen layouts: + 100 + group); "
         f"{config.episodes} tasks per group; " if config.checkpoint is not None else "Test tasks; ") +
        f"stderr = sqrt(p(1-p)/n).{notes} Total {time.perf_counter() - start:.0f} s "
        f"on {torch.get_num_threads()} torch thread(s).{kept_note}"
    )
    columns = ["env", "group", "controller", "split", "episodes", "success_rate", "stderr", "planning_seconds_per_episode"]
    return write_result(
        config.out_dir,
        "hierarchy_test",
        "Maze hierarchy on test tasks: learned level 2, landmarks, flat",
        "Same checkpoint, same tasks and MPPI budget for every controller; success within 3 px of the goal within 400 steps.",
        config,
        columns,
        old + rows,
        notes=notes,
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
