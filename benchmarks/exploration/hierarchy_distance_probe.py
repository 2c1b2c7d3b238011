"""Exploratory probe (issue 19), as run on 2026-12-07: a learned temporal distance as level 2's cost and
reachability signal, on validation tasks only (seed 20000 + group). Not a benchmark: no result file.
Its figures are in ``benchmarks/results/hierarchy_targets.md``. Run from ``benchmarks/``:

    python exploration/hierarchy_distance_probe.py train 20000         # fit d(s2, g2) on the walks, cache it
    python exploration/hierarchy_distance_probe.py train 20000 32 128 --tag=e32  # d = |phi(s) - phi(g)|, phi 128 wide, 32 dims
    python exploration/hierarchy_distance_probe.py eval 24 0.3 7-8 --tag=e32
    python exploration/hierarchy_distance_probe.py map                 # d to one goal over the maze, as text
    python exploration/hierarchy_distance_probe.py eval 24 0.3 7-8,5-6 # episodes per group, level-1 goal weight
    python exploration/hierarchy_distance_probe.py eval 24 inf 7-8     # level 1 follows d to the goal only
    python exploration/hierarchy_distance_probe.py eval 24 0.3 7-8 --final-step  # level 1 scores its last state only
    python exploration/hierarchy_distance_probe.py eval 24 0.3 7-8 --stride=2     # level 1 scores every 2nd state

Uses the checkpoint of a default ``hjepa maze`` run at ``../runs/bench/maze-main`` (before the distance existed)
and its walks; caches to ``../runs/bench/level2-probes``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hierarchy_level2_probes import CKPT, OUT, setup, tasks_for  # noqa: E402

from hjepa.control.hierarchical import HierarchicalMPC  # noqa: E402
from hjepa.control.landmark_level2 import walk_states  # noqa: E402
from hjepa.control.unstick import Unstick  # noqa: E402
from hjepa.data.trajectories import Trajectories  # noqa: E402
from hjepa.planning.distance import DistanceGuidance, closest_in_distance  # noqa: E402
from hjepa.planning.hierarchical import HierarchicalPlanner  # noqa: E402
from hjepa.planning.search import SpreadSearch  # noqa: E402
from hjepa.recipes.maze import evaluate, level1_planner  # noqa: E402
from hjepa.world.temporal_distance import DistanceTrainConfig, TemporalDistance, train_temporal_distance  # noqa: E402

torch.set_num_threads(1)
FINAL = "--final-step" in sys.argv or any(a.startswith("--stride=") for a in sys.argv)
STRIDE = next((int(a[9:]) for a in sys.argv if a.startswith("--stride=")), 8)
sys.argv = [a for a in sys.argv if a != "--final-step" and not a.startswith("--stride=")]
TAG = next((a[6:] for a in sys.argv if a.startswith("--tag=")), "distance")
sys.argv = [a for a in sys.argv if not a.startswith("--tag=")]


class GoalOnly(DistanceGuidance):
    """Level 1 follows the distance to the goal and ignores the subgoal (goal weight 'inf')."""

    def toward(self, subgoal, goal):
        return lambda states: closest_in_distance(self.distance, states, goal)


class FinalStep(DistanceGuidance):
    """Level 1 measures only every STRIDE-th state of its trajectory, ending with the last (STRIDE = horizon:
    only where it ends)."""

    def toward(self, subgoal, goal):
        inner = super().toward(subgoal, goal)
        return lambda states: inner(states[:, :, STRIDE - 1::STRIDE])


def walk_states_cached(env, low, high):
    path = OUT / "walk_states.pt"
    if path.exists():
        return torch.load(path)
    states = walk_states(env, low, high, Trajectories.load(CKPT.parent.parent / "data"))
    torch.save(states, path)
    return states


def loaded_distance(dim):
    stored = torch.load(OUT / f"{TAG}.pt")
    if "config" not in stored:  # the first fit: the pair MLP, 256 wide
        stored = {"config": {"state_dim": dim, "hidden": 256, "layers": 3}, "state": stored}
    dist = TemporalDistance(**stored["config"])
    dist.load_state_dict(stored["state"])
    return dist.eval().requires_grad_(False)


def encode(env, low, high, positions, layout):
    with torch.no_grad():
        return high.abstract(low.encode(env.render(positions, layout)))


def quality(env, low, high, dist, n=24):
    """Mean d per rooms-apart group and d's rank correlation with rooms apart."""
    ds, rooms = [], []
    for group in ("1-2", "3-4", "5-6", "7-8"):
        tasks = tasks_for(env, group, n)
        with torch.no_grad():
            d = dist(encode(env, low, high, tasks.start, tasks.layout), encode(env, low, high, tasks.goal, tasks.layout))
        ds.append(d)
        rooms.append(env.room_distances(tasks.layout)[torch.arange(n), env.room_of(tasks.start), env.room_of(tasks.goal)].float())
        print(f"  {group}: d mean {d.mean():.1f} min {d.min():.1f} max {d.max():.1f}")
    rank = lambda x: x.argsort().argsort().float()  # noqa: E731
    print(f"  rank correlation of d with rooms apart: {torch.corrcoef(torch.stack([rank(torch.cat(ds)), rank(torch.cat(rooms))]))[0, 1]:.3f}")


def controller(job, env, low, high, probe, dist, goal_weight):
    p = job.plan
    bound = min(p.max_action, env.config.max_step)
    kind = GoalOnly if goal_weight == float("inf") else (FinalStep if FINAL else DistanceGuidance)
    guidance = kind(dist, leak=2.0, reach=1.0, goal_weight=0.0 if kind is GoalOnly else goal_weight, radius=1.5)
    vocabulary = high.held_direction_actions(tuple(min(s, bound) for s in p.speeds))
    planner = HierarchicalPlanner(SpreadSearch(vocabulary, p.beam, p.keep_best, p.prefer_shorter), level1_planner(job, bound),
                                  1, p.low_horizon, p.replan_every)
    unstick = Unstick(max_norm=bound, generator=torch.Generator().manual_seed(job.eval.seed + 3))
    return HierarchicalMPC(env, low, high, planner, torch.Generator().manual_seed(job.eval.seed + 1), bound,
                           position_decoder=probe.predict, unstick=unstick, guidance=guidance)


if __name__ == "__main__":
    what = sys.argv[1]
    job, env, low, high, probe = setup()
    states = walk_states_cached(env, low, high)
    if what == "train":
        embed, hidden = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (0, 256)
        dist = TemporalDistance(states.shape[-1], hidden, 3, embed_dim=embed)
        info = train_temporal_distance(dist, states, job.level2.macro_steps, DistanceTrainConfig(steps=int(sys.argv[2])),
                                       torch.Generator().manual_seed(0), progress=lambda i, v: print(f"  step {i} loss {v:.4f}"))
        print(info)
        torch.save({"config": dist.config(), "state": dist.state_dict()}, OUT / f"{TAG}.pt")
        quality(env, low, high, dist.eval())
    if what == "map":
        dist = loaded_distance(states.shape[-1])
        tasks = tasks_for(env, "7-8", 1)
        xs = torch.arange(4.0, 62.0, 3.0)
        grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
        with torch.no_grad():
            s = encode(env, low, high, grid, tasks.layout.index(torch.zeros(len(grid), dtype=torch.long)))
            d = dist(s, encode(env, low, high, tasks.goal, tasks.layout).expand_as(s)).reshape(len(xs), len(xs))
        print("goal (x, y)", [round(v, 1) for v in tasks.goal[0].tolist()])
        print("\n".join(" ".join(f"{float(v):3.0f}" for v in row) for row in d))
    if what == "eval":
        n, goal_weight = int(sys.argv[2]), float(sys.argv[3])
        groups = sys.argv[4].split(",") if len(sys.argv) > 4 else ["7-8", "5-6"]
        dist = loaded_distance(states.shape[-1])
        job = dataclasses.replace(job, eval=dataclasses.replace(job.eval, flat_baseline=False), progress=False)
        for group in groups:
            start = time.perf_counter()
            result = evaluate(job, env, {"d": controller(job, env, low, high, probe, dist, goal_weight)}, tasks_for(env, group, n))["d"][0]
            s = result.summary()
            print(f"{group} goal weight {goal_weight}: {s['success_rate']:.3f} ({int(s['episodes'])} tasks) planning "
                  f"{s['planning_seconds']:.1f} s, wall {time.perf_counter() - start:.0f} s", flush=True)
