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


def group_tasks(g: int, lo: int, hi: int):
    gen = torch.Generator().manual_seed(20100 + g)
    return sample_maze_tasks(env, 24, gen, lo, hi, layout=layouts_with_distance(env, 24, gen, lo, hi))


TASKS = [group_tasks(g, lo, hi) for g, (lo, hi) in enumerate([(1, 2), (3, 4), (5, 6), (7, 8)])]
ROOMS = torch.cat([tasks.rooms_apart.float() for tasks in TASKS])


def rank(x):
    return x.argsort().argsort().float()


def rank_correlation(a, b) -> float:
    return torch.corrcoef(torch.stack([rank(a), rank(b)]))[0, 1].item()


def task_correlation(score) -> float:
    """Rank correlation with rooms apart of ``score(start states, goal states)`` (level-1 states) over all tasks."""
    with torch.no_grad():
        scores = [score(low.encode(env.render(t.start, t.layout)), low.encode(env.render(t.goal, t.layout))) for t in TASKS]
    return rank_correlation(torch.cat(scores), ROOMS)


ds = []
for tasks in TASKS:
    with torch.no_grad():
        s1 = low.encode(env.render(tasks.start, tasks.layout))
        g1 = low.encode(env.render(tasks.goal, tasks.layout))
        d = dist(high.abstract(s1), high.abstract(g1))
        err = (probe.predict(s1) - tasks.start).norm(dim=-1).mean()
    ds.append(d)
    lo, hi = int(tasks.rooms_apart.min()), int(tasks.rooms_apart.max())
    print(f"{lo}-{hi}: d mean {d.mean():.1f} [{d.min():.1f}, {d.max():.1f}] probe err {err:.1f}px")
print("rank corr", rank_correlation(torch.cat(ds), ROOMS))

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
    print("level-1 distance, tasks: rank corr", task_correlation(d1))
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
        print(f"{name}: pairs on one walk, rank corr of d with rooms apart {rank_correlation(dd, rooms):.2f}")

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
    print("10 walks per layout, tasks: rank corr", task_correlation(lambda s, g: stitched(high.abstract(s), high.abstract(g))))
