"""Mode-2 evaluation of a Two Rooms world model: learned-model MPC beside random actions and the
same planner on the true simulator (shared by `hjepa two-rooms` and `hjepa evaluate`)."""

from __future__ import annotations

import torch

from hjepa.control.episodes import EpisodeResult, run_episodes
from hjepa.control.learned import LearnedMPC
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import make_planner
from hjepa.control.random import RandomController, random_moves
from hjepa.control.simulator import SimulatorMPC
from hjepa.control.worlds import PositionWorld
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.envs.tasks import Tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.nn.linear_probe import LinearProbe
from hjepa.nn.precision import resolve_bf16
from hjepa.recipes.two_rooms_config import TwoRoomsJob
from hjepa.world.model import JEPAWorldModel


def evaluate_two_rooms(job: TwoRoomsJob, env: TwoRooms, model: JEPAWorldModel, probe: LinearProbe | None,
                       frameskip: int, tasks: Tasks, world: PositionWorld | None = None,
                       max_steps: int | None = None) -> dict[str, EpisodeResult]:
    """``{controller name: result}``: learned-model MPC first, then (``job.eval.baselines``) random
    actions and simulator MPC, each on the same tasks, in ``world`` (default: stop at success) for
    ``max_steps`` environment steps (default: the environment's ``max_episode_steps``)."""
    bound = min(job.plan.max_action, env.config.max_step)

    def mpc(seed_offset: int) -> ModelPredictiveController:
        generator = torch.Generator().manual_seed(job.eval.seed + seed_offset)
        return ModelPredictiveController(make_planner(job.plan, 2, bound), job.plan.horizon, frameskip, generator,
                                         replan_every=job.plan.replan_every)

    world = PositionWorld(env) if world is None else world
    max_steps = env.config.max_episode_steps if max_steps is None else max_steps

    def run(controller) -> EpisodeResult:
        return run_episodes(world, controller, tasks, max_steps, record=job.eval.record,
                            progress=job.progress, desc="navigation")

    cost = IntrinsicCost(squared=True, reduce_min=job.plan.min_over_horizon)
    model.eval()
    learned = LearnedMPC(
        env, model, mpc(1), cost.with_goal, position_decoder=probe.predict if probe is not None else None,
        max_action_norm=job.plan.max_action, bf16=resolve_bf16(job.precision) and str(job.device) == "cpu",
    )
    results = {"JEPA world model + " + job.plan.planner.upper(): run(learned)}
    if job.eval.baselines:
        draw = random_moves(env.config.max_step, torch.Generator().manual_seed(job.eval.seed + 2))
        results["random actions"] = run(RandomController(draw, frameskip))
        results["true simulator + " + job.plan.planner.upper()] = run(SimulatorMPC(env, mpc(3)))
    return results
