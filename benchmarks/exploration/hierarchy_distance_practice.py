"""Exploratory probe (issue 19), as run on 2026-12-07: practice for level 2's learned distance. The hierarchy plans
practice tasks (seed 30000, never an evaluation seed), the executed episodes join the walks, and the distance is
fitted further on both; then 48 validation tasks 7-8 rooms apart (seed 20000 + 3) are planned again. Run from the
repository root:

    python benchmarks/exploration/hierarchy_distance_practice.py runs/s27/maze-main-d128/checkpoints/hierarchy.pt 200 5000
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch

from hjepa.control.landmark_level2 import walk_states
from hjepa.envs.maze import Maze
from hjepa.envs.maze_tasks import sample_maze_tasks
from hjepa.recipes.maze import collect, evaluate, make_controllers
from hjepa.recipes.maze_config import MazeJob
from hjepa.world.checkpoint import load_world_checkpoint
from hjepa.world.temporal_distance import DistanceTrainConfig, train_temporal_distance

torch.set_num_threads(1)

if __name__ == "__main__":
    checkpoint, practice_tasks, steps = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    stored = load_world_checkpoint(checkpoint, "maze-hierarchy")
    low, high, probe, distance = stored.model, stored.level2, stored.probe, stored.distance
    job = MazeJob(progress=False)
    job = dataclasses.replace(job, eval=dataclasses.replace(job.eval, flat_baseline=False))
    env = Maze(job.env)
    validation = sample_maze_tasks(env, 48, torch.Generator().manual_seed(20_003), 7, 8)

    def validate(tag: str) -> None:
        start = time.perf_counter()
        result = evaluate(job, env, make_controllers(job, env, low, high, probe, distance=distance), validation)
        r = result["hierarchical (distance)"][0]
        print(f"{tag}: 7-8 rooms {r.success_rate:.3f} of 48 ({time.perf_counter() - start:.0f} s)", flush=True)

    validate("before practice")
    tasks = sample_maze_tasks(env, practice_tasks, torch.Generator().manual_seed(30_000), 1, 8)
    episodes = evaluate(job, env, make_controllers(job, env, low, high, probe, distance=distance), tasks)["hierarchical (distance)"][0]
    print(f"practice episodes: {episodes.success_rate:.3f} succeeded", flush=True)
    walks = collect(job, env, job.seed, job.data.episodes)
    states = walk_states(env, low, high, walks)
    practice = dataclasses.replace(walks.index(torch.arange(practice_tasks) % len(walks)), positions=episodes.paths)
    practised = walk_states(env, low, high, practice)  # the fixed maze: the layout is the same for every episode
    both = torch.cat([states, practised[:, : states.shape[1]]])
    info = train_temporal_distance(distance.train(), both, high.macro_steps, DistanceTrainConfig(steps=steps),
                                   torch.Generator().manual_seed(1))
    print(info, flush=True)
    validate("after practice")
