"""The true-simulator MPPI on our Two Rooms protocol against its planning budget (issue 18), as run on
2026-12-07 on validation tasks only (200 cross-room tasks, seed 20000, one torch thread).

Each argument is one budget, ``name=value`` pairs of :class:`~hjepa.control.plan_config.PlanConfig`
fields joined by commas; the demo's other settings are kept. Every number it prints is a validation
figure, reported in ``benchmarks/results/peer_protocol_targets.md``. Not a benchmark: no result file,
no test split. Run from ``benchmarks/``:

    python exploration/two_rooms_simulator_budget.py 200 samples=64 samples=256 samples=64,iterations=6 \\
        horizon=24 horizon=32 samples=256,horizon=32,iterations=4 replan_every=1
"""

from __future__ import annotations

import dataclasses
import sys
import time

import torch

from hjepa.control.episodes import run_episodes
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import make_planner
from hjepa.control.simulator import SimulatorMPC
from hjepa.control.worlds import PositionWorld
from hjepa.envs.tasks import sample_two_rooms_tasks
from hjepa.recipes.two_rooms_config import TwoRoomsJob, make_env

VALIDATION_SEED = 20000


def budget(plan, spec: str):
    """``plan`` with the fields of ``spec`` ("samples=256,horizon=32") replaced."""
    fields = dict(kv.split("=") for kv in spec.split(","))
    return dataclasses.replace(plan, **{k: type(getattr(plan, k))(v) for k, v in fields.items()})


def main(n: int, specs: list[str]) -> None:
    torch.set_num_threads(1)
    job = TwoRoomsJob()
    env = make_env(job)
    tasks = sample_two_rooms_tasks(env, n, VALIDATION_SEED, None, None)
    for spec in specs:
        plan = budget(job.plan, spec)
        mpc = ModelPredictiveController(make_planner(plan, 2, min(plan.max_action, env.config.max_step)), plan.horizon,
                                        job.model.frameskip, torch.Generator().manual_seed(VALIDATION_SEED + 3),
                                        replan_every=plan.replan_every)
        start = time.perf_counter()
        result = run_episodes(PositionWorld(env), SimulatorMPC(env, mpc), tasks, env.config.max_episode_steps)
        print(f"{spec}: success {float(result.success.float().mean()):.3f} over {n} tasks, "
              f"{time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:])
