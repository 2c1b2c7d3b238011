"""The configurator: task specs become the expected cost terms on one shared world model, and bad
specs give clear errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hjepa.agent.configurator import DEFAULT_ZONE, Configurator, TaskSpec, task_preset
from hjepa.agent.tasks import in_zone, reached
from hjepa.control.perception import PixelPerception
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.cost.per_problem import PerProblemCost
from hjepa.cost.regions import position_map_from_probe
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.nn.linear_probe import fit_linear_probe
from hjepa.world.build import WorldModelConfig, build_world_model


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    env = TwoRooms(TwoRoomsConfig(fixed_layout=True))
    model, _ = build_world_model(WorldModelConfig(architecture="vector", obs_pool=2, channels=(4, 8), state_dim=8,
                                                  predictor_hidden=16,
                                                  predictor_layers=2, idm_hidden=16))
    model.eval()
    perception = PixelPerception(env, model)
    pos = torch.rand(64, 2, generator=torch.Generator().manual_seed(0)) * 50 + 5
    probe = fit_linear_probe(perception(pos, env.sample_layout(64)), pos)
    weight, bias = position_map_from_probe(probe)
    return env, model, perception, Configurator(env, perception, weight, bias)


def test_three_tasks_become_the_expected_cost_terms(parts):
    env, model, perception, configurator = parts
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reach = configurator.configure(task_preset("reach"))
    avoid = configurator.configure(task_preset("avoid"))
    room = configurator.configure(task_preset("other-room"))
    assert reach.weights == {"goal": 1.0, "action": 0.0} and reach.zone is None
    assert avoid.weights == {"goal": 1.0, "action": 0.0, "zone": 20.0}
    assert avoid.zone is not None and avoid.zone.box.as_tuple() == DEFAULT_ZONE
    assert avoid.zone.kind == "avoid" and avoid.zone.margin == 2.0 and avoid.zone.reduce == "max"
    assert room.weights == {"goal": 1.0, "action": 0.0} and room.room_boxes is not None
    left, right = room.room_boxes
    assert left.x_max < env.config.fixed_wall_x < right.x_min
    assert reach.plan.horizon == 16 and reach.plan.planner == "mppi"

    tasks = configurator.sample_tasks(reach, 6, seed=1)
    goals, cost = configurator.prepare(reach, tasks)
    assert isinstance(cost, IntrinsicCost) and cost.goal is not None and goals.shape == (6, 8)
    assert torch.equal(cost.goal, goals) and cost.regions == ()

    tasks = configurator.sample_tasks(avoid, 6, seed=1)
    _, cost = configurator.prepare(avoid, tasks)
    assert [r.name for r in cost.regions] == ["zone"] and cost.position_weight is not None
    assert not in_zone(avoid.zone.box.grown(2.0 + env.config.success_radius), tasks.start).any()

    tasks = configurator.sample_tasks(room, 6, seed=1)
    _, cost = configurator.prepare(room, tasks)
    assert isinstance(cost, IntrinsicCost) and cost.goal_set is not None
    assert cost.goal_set.shape[0] == 6 and cost.goal_set.shape[2] == 8 and cost.goal_set.shape[1] > 20
    assert (tasks.target_room == 1 - env.room_of(tasks.start, tasks.layout)).all()
    assert not reached(env, tasks, tasks.start).any()

    probe_room = configurator.configure(dataclasses.replace(task_preset("other-room"), room_term="probe"))
    assert probe_room.weights == {"action": 0.0, "room": 1.0}
    _, cost = configurator.prepare(probe_room, tasks)
    assert isinstance(cost, PerProblemCost)
    assert [c.regions[0].box for c in cost.costs] == [left, right]
    # switching task changed only configuration: the world model is untouched and shared
    assert configurator.perception.model is model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_overrides_reach_the_planner(parts):
    _, _, _, configurator = parts
    spec = dataclasses.replace(task_preset("avoid"), planner="cem", horizon=4, samples=8, elites=32,
                               zone=(10.0, 10.0, 20.0, 20.0), zone_weight=3.0)
    config = configurator.configure(spec)
    assert config.plan.planner == "cem" and config.plan.horizon == 4 and config.plan.elites == 8
    assert config.zone is not None and config.zone.box.as_tuple() == (10.0, 10.0, 20.0, 20.0)
    assert config.weights["zone"] == 3.0
    assert type(configurator.planner(config)).__name__ == "CEM"


@pytest.mark.parametrize("changes, needle", [
    ({"zone": (50.0, 10.0, 40.0, 20.0)}, "x_min < x_max"),
    ({"zone": (1.0, 2.0, 3.0)}, "x_min, y_min, x_max, y_max"),
    ({"horizon": 0}, "horizon must be an int >= 1"),
    ({"zone_weight": -1.0}, "zone_weight must be a finite number >= 0"),
    ({"discount": 1.0}, "discount must be in [0, 1)"),
    ({"goal_weight": 0.0}, "needs goal_weight > 0"),
    ({"goal": "kitchen"}, "goal must be 'position' or 'other-room'"),
    ({"planner": "astar"}, "planner must be"),
    ({"samples": 1}, "samples must be >= 2"),
])
def test_bad_specs_are_refused_clearly(changes, needle):
    with pytest.raises(ValueError) as error:
        dataclasses.replace(task_preset("reach"), **changes)
    assert needle in str(error.value)


def test_bad_specs_for_this_environment(parts):
    env, model, perception, configurator = parts
    with pytest.raises(ValueError, match="outside the arena"):
        configurator.configure(TaskSpec(zone=(70.0, 70.0, 80.0, 80.0)))
    with pytest.raises(ValueError, match="unknown task 'fly'"):
        task_preset("fly")
    no_probe = Configurator(env, perception, None, None)
    with pytest.raises(ValueError, match="probe"):
        no_probe.configure(task_preset("avoid"))
    no_probe.configure(task_preset("reach"))  # no region term: fine without a probe
    random_env = TwoRooms(TwoRoomsConfig(fixed_layout=False))
    with pytest.raises(ValueError, match="fixed layout"):
        Configurator(random_env, perception, None, None).configure(task_preset("other-room"))
