"""Expert trajectories of Two Rooms from a privileged planner: MPC on the true simulator.

stable-worldmodel's protocol cuts its tasks from expert trajectories (start at a state of the
trajectory, goal the state ``goal_steps`` later). Ours come from the demo's "true simulator + MPPI"
baseline (:class:`~hjepa.control.simulator.SimulatorMPC`): it reads the agent's true position and
the layout, which the world model never does, and drives the agent from a random room to a random
goal in the other room of a random layout (:func:`~hjepa.envs.tasks.sample_two_rooms_tasks`).

A trajectory ends when the expert reaches its goal (within ``success_radius``); ``length (E,)`` is
that step, or ``steps`` for an expert that did not arrive. Positions after the end are held.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from hjepa.control.episodes import run_episodes
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import PlanConfig, make_planner
from hjepa.control.simulator import SimulatorMPC
from hjepa.control.worlds import PositionWorld
from hjepa.data.trajectories import Trajectories
from hjepa.envs.tasks import sample_two_rooms_tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError

EXPERT_PLAN = PlanConfig()
"""The expert's planner: the demo's MPPI (64 samples x 2 iterations over 16 planner steps, a new
plan every 4) on actions in the box [-2, 2]^2, which the environment clips to its max_step (2.45 px)."""


def expert_trajectories(env: TwoRooms, episodes: int, steps: int, seed: int, frameskip: int,
                        plan: PlanConfig = EXPERT_PLAN) -> Trajectories:
    """``episodes`` expert trajectories of at most ``steps`` environment steps, reproducible from ``seed``.

    Returns a dataset with ``positions (E, steps+1, 2)``, ``actions (E, steps, 2)`` (the executed
    displacements), per-episode ``wall_x``, ``door_y``, ``goal_x``, ``goal_y`` (the expert's own goal)
    and ``length`` (E,) int64, and metadata naming the privileged policy. ``frameskip``: environment
    steps each planner action is held (the world model's).
    """
    if episodes < 1 or steps < 1 or frameskip < 1:
        raise InputError(f"expert episodes, steps and frameskip must be >= 1, got {episodes}, {steps}, {frameskip}")
    tasks = sample_two_rooms_tasks(env, episodes, seed)
    bound = min(plan.max_action, env.config.max_step)
    mpc = ModelPredictiveController(make_planner(plan, 2, bound), plan.horizon, frameskip,
                                    torch.Generator().manual_seed(seed + 1), replan_every=plan.replan_every)
    result = run_episodes(PositionWorld(env), SimulatorMPC(env, mpc), tasks, steps)
    positions = result.paths.float()  # (E, steps+1, 2), held after arrival
    length = torch.where(result.success, result.steps_to_success, torch.full_like(result.steps_to_success, steps))
    meta = {
        "env": {"name": "two_rooms", "config": asdict(env.config)},
        "policy": {"name": "two_rooms_expert_simulator_mppi",
                   "privileged": "reads the true simulator state (expert data, not exploration)",
                   "params": {**asdict(plan), "frameskip": frameskip}},
        "seed": int(seed),
        "reached_goal": float(result.success.double().mean()),
    }
    return Trajectories(
        actions=positions[:, 1:] - positions[:, :-1], positions=positions,
        episode_arrays={"wall_x": tasks.layout.wall_x, "door_y": tasks.layout.door_y, "goal_x": tasks.goal[:, 0],
                        "goal_y": tasks.goal[:, 1], "length": length.long()},
        meta=meta,
    )
