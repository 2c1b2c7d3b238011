"""Exploratory probe (issues 18 and 19), as run on 2026-12-07: does the learned temporal distance of the maze's level 2
help the flat Two Rooms planner, as its cost? Validation tasks only (eval seed 20000). Not a benchmark: no result file.
Run from the repository root:

    python benchmarks/exploration/two_rooms_distance_probe.py fit runs/seeds/native-s1 20000
    python benchmarks/exploration/two_rooms_distance_probe.py eval runs/seeds/native-s1 200 0.0   # tasks, weight of L2
    python benchmarks/exploration/two_rooms_distance_probe.py eval runs/seeds/native-s1 200 0.01 --no-baseline

The run directory is a default `hjepa two-rooms` (demo recipe) run with its data; the distance (a pair MLP on the
level-1 states, one level-1 step per unit) is fitted on its walks and cached beside it as distance_probe.pt.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from hjepa.control.episodes import run_episodes
from hjepa.control.learned import LearnedMPC
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import make_planner
from hjepa.control.worlds import PositionWorld
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.data.trajectories import Trajectories
from hjepa.envs.tasks import sample_two_rooms_tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.planning.distance import closest_in_distance
from hjepa.recipes.two_rooms_config import TwoRoomsJob
from hjepa.world.checkpoint import load_world_checkpoint
from hjepa.world.temporal_distance import DistanceTrainConfig, TemporalDistance, train_temporal_distance

torch.set_num_threads(1)


def walk_states(env, model, walks, frameskip, chunk=4096):
    positions = walks.positions[:, ::frameskip]  # (E, T', 2)
    e, t = positions.shape[:2]
    layout = walks.layout().index(torch.arange(e).repeat_interleave(t))
    flat, out = positions.reshape(-1, 2), []
    with torch.no_grad():
        for rows in torch.arange(len(flat)).split(chunk):
            out.append(model.encode(env.render(flat[rows], layout.index(rows))))
    return torch.cat(out).view(e, t, -1)


if __name__ == "__main__":
    what, run = sys.argv[1], Path(sys.argv[2])
    stored = load_world_checkpoint(run / "checkpoints" / "world_model.pt", "two-rooms")
    model, probe, frameskip = stored.model, stored.probe, stored.config.frameskip
    job = TwoRoomsJob()
    env = TwoRooms(job.env)
    cache = run / "distance_probe.pt"
    if what == "fit":
        walks = Trajectories.load(run / "data")
        start = time.perf_counter()
        states = walk_states(env, model, walks, frameskip)
        layout = walks.layout()
        mazes = torch.unique(torch.stack([layout.wall_x.float(), layout.door_y.float()], 1), dim=0, return_inverse=True)[1]
        print(f"walk states {tuple(states.shape)} in {time.perf_counter() - start:.0f} s; {int(mazes.max()) + 1} layouts")
        dist = TemporalDistance(states.shape[-1], 128, 3)
        info = train_temporal_distance(dist, states, 1, DistanceTrainConfig(steps=int(sys.argv[3])), torch.Generator().manual_seed(0),
                                       layouts=mazes, progress=lambda i, v: print(f"  step {i} loss {v:.3f}") if i % 5000 == 0 else None)
        print(info)
        torch.save({"config": dist.config(), "state": dist.state_dict()}, cache)
    if what == "eval":
        n, l2 = int(sys.argv[3]), float(sys.argv[4])
        saved = torch.load(cache)
        dist = TemporalDistance(**saved["config"])
        dist.load_state_dict(saved["state"])
        dist.eval().requires_grad_(False)
        tasks = sample_two_rooms_tasks(env, n, 20_000)
        bound = min(job.plan.max_action, env.config.max_step)
        intrinsic = IntrinsicCost(squared=True, reduce_min=job.plan.min_over_horizon)

        def distance_cost(goal):
            base = intrinsic.with_goal(goal)

            def cost(states, actions):
                total = closest_in_distance(dist, states[:, :, 1:], goal)
                return total + l2 * base(states, actions) if l2 else total

            return cost

        controllers = (("squared distance (the demo's cost)", intrinsic.with_goal), (f"learned distance + {l2} x squared", distance_cost))
        for label, factory in controllers[1:] if "--no-baseline" in sys.argv else controllers:
            mpc = ModelPredictiveController(make_planner(job.plan, 2, bound), job.plan.horizon, frameskip,
                                            torch.Generator().manual_seed(20_001), replan_every=job.plan.replan_every)
            controller = LearnedMPC(env, model, mpc, factory, max_action_norm=job.plan.max_action)
            start = time.perf_counter()
            result = run_episodes(PositionWorld(env), controller, tasks, env.config.max_episode_steps)
            print(f"{label}: {result.success_rate:.3f} of {n} ({time.perf_counter() - start:.0f} s)", flush=True)
