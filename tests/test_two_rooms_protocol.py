"""Two Rooms on stable-worldmodel's protocol: tasks cut from expert trajectories (a known answer),
the privileged expert, and `hjepa evaluate --eval.protocol stable-wm` at tiny sizes."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from hjepa.cli import main
from hjepa.control.plan_config import PlanConfig
from hjepa.control.two_rooms_expert import expert_trajectories
from hjepa.control.worlds import PositionWorld
from hjepa.data.trajectories import Trajectories
from hjepa.data.trajectory_tasks import cut_goal_tasks
from hjepa.envs.tasks import Tasks
from hjepa.envs.two_rooms import Layout, TwoRooms
from hjepa.errors import InputError
from hjepa.recipes.two_rooms_config import EvalConfig, TwoRoomsJob
from hjepa.recipes.two_rooms_protocol import STABLE_WM_PLAN, protocol_defaults, split_seed
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.checkpoint import checkpoint_state


def numbered_trajectories(lengths: list[int], steps: int = 60) -> Trajectories:
    """Episode e's position at step t is (1000 e + t, t): every (episode, step) is recognisable."""
    e = len(lengths)
    t = torch.arange(steps + 1, dtype=torch.float32)
    positions = torch.stack([1000.0 * torch.arange(e).view(-1, 1) + t, t.expand(e, -1)], dim=-1)  # (E, T+1, 2)
    return Trajectories(
        actions=positions[:, 1:] - positions[:, :-1], positions=positions,
        episode_arrays={"wall_x": torch.arange(20, 20 + e), "door_y": torch.full((e,), 30.0),
                        "length": torch.tensor(lengths)},
    )


def test_goal_is_the_trajectory_state_goal_steps_later():
    data = numbered_trajectories([60, 10, 40, 25, 24, 50])  # episodes 1 and 4 end before 25 steps
    tasks = cut_goal_tasks(data, 4, 25, seed=3)
    assert tasks.source_episode.tolist() == [0, 2, 3, 5]
    episode, t = tasks.source_episode.float(), tasks.source_step.float()
    assert torch.equal(tasks.start, torch.stack([1000 * episode + t, t], dim=-1))
    assert torch.equal(tasks.goal, torch.stack([1000 * episode + t + 25, t + 25], dim=-1))
    length = torch.tensor([60, 40, 25, 50])
    assert bool((tasks.source_step >= 0).all()) and bool((tasks.source_step + 25 <= length).all())
    assert tasks.source_step[2] == 0  # 25 steps long: only t = 0 leaves 25 steps
    assert tasks.layout.wall_x.tolist() == [20, 22, 23, 25]
    again = cut_goal_tasks(data, 4, 25, seed=3)
    assert torch.equal(again.source_step, tasks.source_step)


def test_cut_refuses_bad_values():
    data = numbered_trajectories([60, 10])
    with pytest.raises(InputError, match="goal_steps must be >= 1"):
        cut_goal_tasks(data, 1, 0, seed=0)
    with pytest.raises(InputError, match="only 1 of 2 trajectories"):
        cut_goal_tasks(data, 2, 25, seed=0)


def test_expert_trajectories_reach_their_goals_and_say_they_are_privileged():
    env = TwoRooms()
    data = expert_trajectories(env, 8, 120, seed=5, frameskip=4)
    assert data.positions.shape == (8, 121, 2) and data.meta["policy"]["privileged"]
    goal = torch.stack([data.episode_arrays["goal_x"], data.episode_arrays["goal_y"]], dim=-1)
    length = data.episode_arrays["length"]
    arrived = length < 120
    assert arrived.sum() >= 5  # the simulator's planner crosses most rooms in 30-100 steps (85% of 40 in 120)
    end = data.positions[torch.arange(8), length]
    assert bool(((end - goal).norm(dim=-1)[arrived] <= env.config.success_radius).all())
    assert bool(env.is_free(data.positions.transpose(0, 1), data.layout()).all())  # never inside a wall
    assert data.actions.norm(dim=-1).max() <= env.config.max_step + 1e-4  # moves of the environment's own size


def test_position_world_that_does_not_stop_judges_the_final_step():
    env = TwoRooms()
    layout = Layout(torch.tensor([30]), torch.tensor([32.0]))
    tasks = Tasks(torch.tensor([[10.0, 10.0]]), torch.tensor([[12.0, 10.0]]), layout)
    world = PositionWorld(env, stop_on_success=False)
    world.reset(tasks)
    all_rows, frozen = torch.tensor([0]), torch.zeros(1, dtype=torch.bool)
    world.step(torch.tensor([[2.0, 0.0]]), all_rows, frozen, 0)
    assert bool(world.success().all())
    world.step(torch.tensor([[2.0, 0.0]]), all_rows, frozen, 0)  # keeps moving: not stopped at success
    assert world.pos[0, 0] == pytest.approx(14.0) and not world.stop_on_success


STABLE_WM = ["--eval.protocol", "stable-wm", "--eval.episodes", "3", "--eval.record", "1", "--eval.budget-steps", "8",
             "--plan.planner", "cem", "--plan.samples", "16", "--plan.elites", "4", "--plan.horizon", "2",
             "--plan.iterations", "2", "--plan.replan-every", "1", "--precision", "fp32", "--no-progress"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny Two Rooms world model, stored as `hjepa two-rooms` stores one."""
    torch.manual_seed(0)
    config = WorldModelConfig(channels=(8,), state_dim=16, spatial_channels=4, predictor_hidden=16, idm_hidden=16)
    model, inverse_dynamics = build_world_model(config)
    path = tmp_path_factory.mktemp("ckpt") / "world_model.pt"
    torch.save(checkpoint_state("two-rooms", model, config, inverse_dynamics), path)
    return path


def test_evaluate_on_stable_wm_protocol(checkpoint, tmp_path):
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--name", "sw", "--runs-root", str(tmp_path), *STABLE_WM]) == 0
    summary = json.loads((tmp_path / "sw" / "summary.json").read_text())
    assert (summary["protocol"], summary["split"], summary["goal_steps"], summary["budget_steps"]) == ("stable-wm", "validation", 25, 8)
    assert set(summary["controllers"]) == {"JEPA world model + CEM", "random actions", "true simulator + CEM"}
    for row in summary["controllers"].values():
        assert {"success_rate", "final_success_rate", "planning_ms_per_step"} <= set(row)
        assert 0.0 <= row["final_success_rate"] <= 1.0
    expert = Trajectories.load(tmp_path / "sw" / "data" / "expert-validation")
    assert expert.meta["policy"]["privileged"] and expert.meta["goal_steps"] == 25
    assert "stable-worldmodel" in (tmp_path / "sw" / "report.md").read_text()
    rows = list(csv.DictReader((tmp_path / "sw" / "episodes.csv").open()))  # one row per controller and episode
    assert len(rows) == 3 * 3
    for label, row in summary["controllers"].items():
        mine = [r for r in rows if r["controller"] == label]
        assert sum(int(r["success"]) for r in mine) / 3 == pytest.approx(row["success_rate"])
        assert sum(int(r["final_success"]) for r in mine) / 3 == pytest.approx(row["final_success_rate"])
        assert all(float(r["closest_px"]) <= float(r["final_distance_px"]) + 1e-6 for r in mine)


def test_splits_have_their_own_seeds():
    job = TwoRoomsJob(eval=EvalConfig(protocol="stable-wm"))
    test = dataclasses.replace(job, eval=dataclasses.replace(job.eval, split="test"))
    assert (split_seed(job), split_seed(test)) == (30_000, 40_000)
    assert protocol_defaults(job).plan == STABLE_WM_PLAN  # the protocol's CEM when plan.* is left alone
    assert (STABLE_WM_PLAN.samples, STABLE_WM_PLAN.iterations, STABLE_WM_PLAN.elites, STABLE_WM_PLAN.horizon) == (300, 30, 30, 5)
    assert protocol_defaults(dataclasses.replace(job, eval=EvalConfig())).plan == PlanConfig()


@pytest.mark.parametrize("option, value", [("--eval.goal-steps", "0"), ("--eval.budget-steps", "0"), ("--eval.goal-steps", "500")])
def test_bad_protocol_values_are_one_line_errors(checkpoint, tmp_path, capsys, option, value):
    try:
        code = main(["evaluate", "--checkpoint", str(checkpoint), "--name", "bad", "--runs-root", str(tmp_path), *STABLE_WM, option, value])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and option.removeprefix("--").replace("-", "_") in err.replace("-", "_")
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "bad").exists()  # refused before a run directory is made
