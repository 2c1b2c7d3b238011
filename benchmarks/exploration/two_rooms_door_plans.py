"""Exploratory probe (issue 18), as run on 2026-12-08: when the Two Rooms planner fails on a door far from
the straight line, is the model or the search short? Validation tasks only (eval seed 20000). Not a
benchmark: no result file. Run from the repository root:

    python benchmarks/exploration/two_rooms_door_plans.py runs/<two-rooms run> 400

For each task it scores, with the model and the demo's cost (closest squared distance to the goal's
representation over the horizon), two hand-made plans of held actions at the planner's largest action
(``plan.max_action``, 2 px per step):

- ``door``: start -> in front of the door -> through it -> goal (privileged: it reads the layout);
- ``straight``: straight at the goal (blocked by the wall whenever the door is off the line).

and says where each really ends (the true simulator) and where the model thinks it ends (probe). If the
model scores the door plan below the straight one, the model knows the way and the search is short;
if not, the model is short.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from hjepa.control.dynamics import learned_dynamics, simulator_dynamics
from hjepa.control.perception import PixelPerception
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.envs.tasks import sample_two_rooms_tasks
from hjepa.planning.base import rollout
from hjepa.recipes.two_rooms_config import TwoRoomsJob, make_env
from hjepa.world.checkpoint import load_world_checkpoint

torch.set_num_threads(2)


def polyline_actions(points: list[torch.Tensor], step: float, repeat: int, horizon: int) -> torch.Tensor:
    """Held actions ``(horizon, 2)`` (one per planner step of ``repeat`` env steps) walking the polyline at
    ``step`` px per env step, then standing still."""
    out, pos, i = [], points[0].clone(), 1
    for _ in range(horizon):
        target = points[min(i, len(points) - 1)]
        delta = target - pos
        dist = float(delta.norm())
        if dist < 1e-6 and i < len(points) - 1:
            i += 1
            target = points[i]
            delta, dist = target - pos, float((target - pos).norm())
        reach = step * repeat
        move = delta if dist <= reach else delta * (reach / dist)
        pos = pos + move
        if dist <= reach and i < len(points) - 1:
            i += 1
        out.append(move / repeat)
    return torch.stack(out)


def main(run: Path, n: int) -> None:
    ckpt = load_world_checkpoint(run / "checkpoints" / "world_model.pt", "two-rooms")
    job = TwoRoomsJob()
    env = make_env(job)
    repeat, horizon = ckpt.config.frameskip, job.plan.horizon
    tasks = sample_two_rooms_tasks(env, n, 20000)
    perception = PixelPerception(env, ckpt.model)
    dynamics = learned_dynamics(ckpt.model, repeat, job.plan.max_action)
    wall_w = env.config.wall_width
    plans = {"door": [], "straight": []}
    for k in range(n):
        s, g = tasks.start[k], tasks.goal[k]
        wx, dy = float(tasks.layout.wall_x[k]), float(tasks.layout.door_y[k])
        side = 1.0 if s[0] < wx else -1.0
        before = torch.tensor([wx - 3.0 if side > 0 else wx + wall_w + 3.0, dy])
        after = torch.tensor([wx + wall_w + 3.0 if side > 0 else wx - 3.0, dy])
        plans["door"].append(polyline_actions([s, before, after, g], job.plan.max_action, repeat, horizon))
        plans["straight"].append(polyline_actions([s, g], job.plan.max_action, repeat, horizon))
    with torch.no_grad():
        s0 = perception(tasks.start, tasks.layout)  # (N, D)
        goal = perception(tasks.goal, tasks.layout)
        cost = IntrinsicCost(squared=True, reduce_min=True).with_goal(goal)
        result = {}
        for name, acts in plans.items():
            actions = torch.stack(acts)  # (N, H, 2)
            states = rollout(s0, actions.unsqueeze(1), dynamics)  # (N, 1, H+1, D)
            c = cost(states, actions.unsqueeze(1))[:, 0]
            path = rollout(tasks.start, actions.unsqueeze(1), simulator_dynamics(env, tasks.layout, repeat))[:, 0]  # (N, H+1, 2)
            closest = (path - tasks.goal[:, None]).norm(dim=-1).amin(dim=1)
            pred = ckpt.probe.predict(states[:, 0].reshape(-1, states.shape[-1])).reshape(n, -1, 2)
            pred_closest = (pred - tasks.goal[:, None]).norm(dim=-1).amin(dim=1)
            result[name] = (c, closest, pred_closest)
    wc = tasks.layout.wall_x.float() + wall_w / 2
    t = (wc - tasks.start[:, 0]) / (tasks.goal[:, 0] - tasks.start[:, 0])
    off = (tasks.start[:, 1] + t * (tasks.goal[:, 1] - tasks.start[:, 1]) - tasks.layout.door_y).abs()
    print("door offset | tasks | door plan reaches (true) | model prefers door | door plan: model's closest px | "
          "straight: true closest / model's closest px")
    for lo, hi in ((0, 10), (10, 20), (20, 30), (30, 99)):
        m = (off >= lo) & (off < hi)
        if not m.any():
            continue
        dc, dclose, dpred = (x[m] for x in result["door"])
        sc, sclose, spred = (x[m] for x in result["straight"])
        print(f"{lo}-{hi} | {int(m.sum())} | {float((dclose <= 4.5).float().mean()):.2f} | {float((dc < sc).float().mean()):.2f} | "
              f"{float(dpred.median()):.1f} | {float(sclose.median()):.1f} / {float(spred.median()):.1f}")
    print("median cost door / straight where offset >= 20:",
          float(result["door"][0][off >= 20].median()), float(result["straight"][0][off >= 20].median()))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
