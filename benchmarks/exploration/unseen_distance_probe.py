"""Exploratory diagnostic (issue 19), as run on 2026-12-07: on random layouts never seen in training (validation seed
20100 + group, 24 tasks per group), how well does a random-layout model's learned distance rank tasks by rooms apart,
and how far is its level-1 position probe off? Run from the repository root:

    python benchmarks/exploration/unseen_distance_probe.py runs/s27/maze-random-spatial/checkpoints/hierarchy.pt

The checkpoint: hjepa maze --env.layout random --model.architecture spatial --data.episodes 1000 --data.steps 800
--train.steps 1600 --name maze-random-spatial --runs-root runs/s27 --threads 1 --eval.episodes 24
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hierarchy_test import layouts_with_distance  # noqa: E402
from hjepa.envs.maze import Maze, MazeConfig  # noqa: E402
from hjepa.envs.maze_tasks import sample_maze_tasks  # noqa: E402
from hjepa.world.checkpoint import load_world_checkpoint  # noqa: E402

torch.set_num_threads(1)
ck = load_world_checkpoint(sys.argv[1], "maze-hierarchy")
low, high, dist, probe = ck.model, ck.level2, ck.distance, ck.probe
env = Maze(MazeConfig(layout="random"))
ds, rs = [], []
for g, (lo, hi) in enumerate([(1, 2), (3, 4), (5, 6), (7, 8)]):
    gen = torch.Generator().manual_seed(20100 + g)
    lay = layouts_with_distance(env, 24, gen, lo, hi)
    tasks = sample_maze_tasks(env, 24, gen, lo, hi, layout=lay)
    with torch.no_grad():
        s1 = low.encode(env.render(tasks.start, tasks.layout))
        g1 = low.encode(env.render(tasks.goal, tasks.layout))
        d = dist(high.abstract(s1), high.abstract(g1))
        err = (probe.predict(s1) - tasks.start).norm(dim=-1).mean()
    r = tasks.rooms_apart.float()
    ds.append(d)
    rs.append(r)
    print(f"{lo}-{hi}: d mean {d.mean():.1f} [{d.min():.1f}, {d.max():.1f}] probe err {err:.1f}px")
rank = lambda x: x.argsort().argsort().float()  # noqa: E731
print("rank corr", torch.corrcoef(torch.stack([rank(torch.cat(ds)), rank(torch.cat(rs))]))[0, 1].item())
