"""Helpers of the Two Rooms recipe: precision, environment, held-out bands, planners."""

from __future__ import annotations

import pytest
import torch

from hjepa.control.plan_config import PlanConfig, make_planner
from hjepa.envs.two_rooms import TwoRoomsConfig
from hjepa.nn.precision import resolve_bf16
from hjepa.planning.cem import CEM
from hjepa.planning.gradient import GradientPlanner
from hjepa.planning.mppi import MPPI
from hjepa.recipes.collect import collect_walks
from hjepa.recipes.two_rooms_config import DataConfig, TwoRoomsJob, make_env, training_wall_choices


def test_resolve_bf16():
    assert resolve_bf16("fp32") is False
    assert resolve_bf16("bf16") is True
    assert isinstance(resolve_bf16("auto"), bool)


def test_make_env_layout():
    fixed = make_env(TwoRoomsJob(layout="fixed"))
    assert fixed.config.fixed_layout
    layout = fixed.sample_layout(5, torch.Generator().manual_seed(0))
    assert (layout.wall_x == fixed.config.fixed_wall_x).all() and (layout.door_y == fixed.config.fixed_door_y).all()
    # The job's layout wins over env.fixed_layout, and the other settings are kept.
    env = make_env(TwoRoomsJob(layout="random", env=TwoRoomsConfig(fixed_layout=True, door_size=8.0)))
    assert not env.config.fixed_layout and env.config.door_size == 8.0
    assert len(set(env.sample_layout(50, torch.Generator().manual_seed(0)).wall_x.tolist())) > 1


def test_training_wall_choices_excludes_band():
    env = make_env(TwoRoomsJob())  # wall x in [20, 41]
    assert training_wall_choices(env, DataConfig()) == (None, None)
    choices, door_range = training_wall_choices(env, DataConfig(wall_band=(25, 30), door_band=(20.0, 30.0)))
    assert choices.tolist() == list(range(20, 25)) + list(range(31, 42))
    assert door_range == env.config.door_y_range
    with pytest.raises(ValueError, match="leaves no wall position"):
        training_wall_choices(env, DataConfig(wall_band=(0, 100)))


def test_collect_excludes_held_out_bands():
    job = TwoRoomsJob(data=DataConfig(steps=10, wall_band=(28, 33), door_band=(25.0, 35.0)))
    env = make_env(job)
    data = collect_walks(job, env, seed=0, episodes=200)
    assert len(data) == 200  # doors inside the band are redrawn, so the count is kept
    layout = data.layout()
    assert ((layout.door_y < 25.0) | (layout.door_y > 35.0)).all()
    assert ((layout.wall_x < 28) | (layout.wall_x > 33)).all()
    assert data.steps == 10


@pytest.mark.parametrize("name, kind", [("mppi", MPPI), ("cem", CEM), ("gradient", GradientPlanner)])
def test_make_planner(name, kind):
    planner = make_planner(PlanConfig(planner=name, samples=16, elites=4), 2, 2.0)
    assert isinstance(planner, kind)
    assert float(planner.action_high.max()) == 2.0 and float(planner.action_low.min()) == -2.0


def test_plan_config_refuses_unknown_names_and_bad_values():
    with pytest.raises(ValueError, match="plan.planner must be mppi, cem or gradient"):
        PlanConfig(planner="bogus")
    with pytest.raises(ValueError, match="plan.elites"):
        PlanConfig(samples=4, elites=8)


def test_fixed_layout_uses_its_own_defaults_unless_told_otherwise():
    import dataclasses

    from hjepa.recipes.two_rooms_config import DataConfig, PracticeConfig, TwoRoomsJob, fixed_layout_defaults
    from hjepa.world.build import VECTOR_WORLD_MODEL, WorldModelConfig

    random_job = TwoRoomsJob()
    assert fixed_layout_defaults(random_job) == random_job  # random layouts: untouched
    fixed = fixed_layout_defaults(TwoRoomsJob(layout="fixed"))
    assert fixed.model == VECTOR_WORLD_MODEL and fixed.data.resample_on_block == 1.0
    assert (fixed.practice.rounds, fixed.practice.steps) == (2, 150)
    chosen = TwoRoomsJob(layout="fixed", model=WorldModelConfig(spatial_channels=4), data=DataConfig(resample_on_block=0.5),
                         practice=PracticeConfig(rounds=1))
    kept = fixed_layout_defaults(chosen)
    assert kept.model.spatial_channels == 4 and kept.data.resample_on_block == 0.5
    assert dataclasses.replace(kept) == chosen


def test_practice_tasks_stay_outside_held_out_bands_and_off_the_evaluation_seed():
    from hjepa.recipes.two_rooms_config import EvalConfig
    from hjepa.recipes.two_rooms_training import practice_tasks

    job = TwoRoomsJob(data=DataConfig(wall_band=(28, 33), door_band=(25.0, 35.0)))
    env = make_env(job)
    tasks = practice_tasks(job, env, 64, seed=5)
    assert len(tasks) == 64
    assert ((tasks.layout.wall_x < 28) | (tasks.layout.wall_x > 33)).all()
    assert ((tasks.layout.door_y < 25.0) | (tasks.layout.door_y > 35.0)).all()
    assert (env.room_of(tasks.start, tasks.layout) != env.room_of(tasks.goal, tasks.layout)).all()
    with pytest.raises(ValueError, match="evaluation seed"):
        practice_tasks(TwoRoomsJob(eval=EvalConfig(seed=7)), env, 4, seed=7)


def test_auto_precision_follows_an_avx2_cap(monkeypatch):
    """On an AVX-512-BF16 CPU told to behave as an AVX2 one, 'auto' does not pick bf16 (it would be emulated)."""
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert resolve_bf16("auto") is False and resolve_bf16("bf16") is True
    monkeypatch.delenv("ATEN_CPU_CAPABILITY")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert resolve_bf16("auto") is False
