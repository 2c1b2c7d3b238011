"""Exploratory diagnostic (issue 19), as run on 2026-12-07: on random layouts never seen in training (validation seed
20100 + group, 24 tasks per group), how well does a random-layout model's learned distance rank tasks by rooms apart,
and how far is its level-1 position probe off? Run from the repository root:

    python benchmarks/exploration/unseen_distance_probe.py runs/s27/maze-random-spatial/checkpoints/hierarchy.pt

The checkpoint: hjepa maze --env.layout random --model.architecture spatial --data.episodes 1000 --data.steps 800
--train.steps 1600 --name maze-random-spatial --runs-root runs/s27 --threads 1 --eval.episodes 24

    python benchmarks/exploration/unseen_distance_probe.py runs/s27/maze-random-spatial/checkpoints/hierarchy.pt level1

fits a distance on the walks' level-1 states instead (10000 steps, each walk its own layout) and also ranks pairs
of states on the same walk (200 training walks, and 200 new walks in new layouts).

    python benchmarks/exploration/unseen_distance_probe.py runs/s27/maze-random-spatial/checkpoints/hierarchy.pt stitch

fits the level-2 distance on new walks, 10 per layout in 100 layouts (800 steps each), so that temporal differences
can stitch walks of the same layout together.
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

if len(sys.argv) > 2 and sys.argv[2] == "level1":
    from hjepa.recipes.maze import collect  # noqa: E402
    from hjepa.recipes.maze_config import MazeDataConfig, MazeJob  # noqa: E402
    from hjepa.world.temporal_distance import DistanceTrainConfig, TemporalDistance, train_temporal_distance  # noqa: E402

    job = MazeJob(env=env.config, data=MazeDataConfig(episodes=1000, steps=800))
    frameskip = low.action_dim // 2

    def level1_states(walks):
        positions = walks.positions[:, ::frameskip]
        e, t = positions.shape[:2]
        layout = walks.layout().index(torch.arange(e).repeat_interleave(t))
        flat, out = positions.reshape(-1, 2), []
        with torch.no_grad():
            for rows in torch.arange(len(flat)).split(4096):
                out.append(low.encode(env.render(flat[rows], layout.index(rows))))
        return torch.cat(out).view(e, t, -1)

    walks = collect(job, env, 0, 1000)
    states = level1_states(walks)
    d1 = TemporalDistance(states.shape[-1], 128, 3)
    train_temporal_distance(d1, states, 4, DistanceTrainConfig(steps=10_000), torch.Generator().manual_seed(0),
                            layouts=torch.arange(len(walks)))
    d1.eval()
    ds, rs = [], []
    for g, (lo, hi) in enumerate([(1, 2), (3, 4), (5, 6), (7, 8)]):
        gen = torch.Generator().manual_seed(20100 + g)
        tasks = sample_maze_tasks(env, 24, gen, lo, hi, layout=layouts_with_distance(env, 24, gen, lo, hi))
        with torch.no_grad():
            ds.append(d1(low.encode(env.render(tasks.start, tasks.layout)), low.encode(env.render(tasks.goal, tasks.layout))))
        rs.append(tasks.rooms_apart.float())
    print("level-1 distance, tasks: rank corr", torch.corrcoef(torch.stack([rank(torch.cat(ds)), rank(torch.cat(rs))]))[0, 1].item())
    for name, seed in (("training walks", 0), ("new walks, new layouts", 777)):
        walks = collect(job, env, seed, 200)
        g = torch.Generator().manual_seed(1)
        e = torch.arange(200)
        t1 = torch.randint(0, 100, (200,), generator=g) * frameskip
        t2 = t1 + torch.randint(0, 100, (200,), generator=g) * frameskip
        layout = walks.layout()
        with torch.no_grad():
            dd = d1(low.encode(env.render(walks.positions[e, t1], layout)), low.encode(env.render(walks.positions[e, t2], layout)))
        rooms = env.room_distances(layout)[e, env.room_of(walks.positions[e, t1]), env.room_of(walks.positions[e, t2])].float()
        print(f"{name}: pairs on one walk, rank corr of d with rooms apart "
              f"{torch.corrcoef(torch.stack([rank(dd), rank(rooms)]))[0, 1].item():.2f}")

if len(sys.argv) > 2 and sys.argv[2] == "stitch":
    from hjepa.control.landmark_level2 import walk_states  # noqa: E402
    from hjepa.data.trajectories import Trajectories  # noqa: E402
    from hjepa.envs.random_walk import walk  # noqa: E402
    from hjepa.recipes.maze import walker  # noqa: E402
    from hjepa.recipes.maze_config import MazeDataConfig, MazeJob  # noqa: E402
    from hjepa.world.temporal_distance import DistanceTrainConfig, TemporalDistance, train_temporal_distance  # noqa: E402

    layouts_n, per, steps = 100, 10, 800
    job = MazeJob(env=env.config, data=MazeDataConfig(episodes=layouts_n * per, steps=steps))
    gen = torch.Generator().manual_seed(5)
    ids = torch.arange(layouts_n).repeat_interleave(per)
    layout = env.sample_layout(layouts_n, gen).index(ids)
    start = env.sample_in_room(torch.randint(env.config.num_rooms, (len(ids),), generator=gen), gen, margin=0.5)
    positions, actions = walk(env, walker(job, env), start, layout, steps, gen)
    walks = Trajectories.from_arrays({"positions": positions, "actions": actions, "door_drawn": layout.drawn.clone(),
                                      "door_passable": layout.passable.clone(), "door_centre": layout.centre.float().clone()})
    stitched = TemporalDistance(high.state_dim, 128, 3)
    train_temporal_distance(stitched, walk_states(env, low, high, walks), high.macro_steps, DistanceTrainConfig(),
                            torch.Generator().manual_seed(0), layouts=ids)
    stitched.eval()
    ds, rs = [], []
    for g, (lo, hi) in enumerate([(1, 2), (3, 4), (5, 6), (7, 8)]):
        gen = torch.Generator().manual_seed(20100 + g)
        tasks = sample_maze_tasks(env, 24, gen, lo, hi, layout=layouts_with_distance(env, 24, gen, lo, hi))
        with torch.no_grad():
            ds.append(stitched(high.abstract(low.encode(env.render(tasks.start, tasks.layout))),
                               high.abstract(low.encode(env.render(tasks.goal, tasks.layout)))))
        rs.append(tasks.rooms_apart.float())
    print("10 walks per layout, tasks: rank corr", torch.corrcoef(torch.stack([rank(torch.cat(ds)), rank(torch.cat(rs))]))[0, 1].item())
