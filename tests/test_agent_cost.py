"""The intrinsic cost's region terms, goal sets and per-step terms: hand-computed values, gradients,
and that the cost can be neither trained nor changed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.cost.per_problem import PerProblemCost
from hjepa.cost.regions import Box, RegionTerm, position_map_from_probe
from hjepa.nn.linear_probe import fit_linear_probe

# States are 3-d; the position map reads (x, y) = (s0, s1) * 10 + (1, 2).
W = torch.tensor([[10.0, 0.0], [0.0, 10.0], [0.0, 0.0]])
B = torch.tensor([1.0, 2.0])
ZONE = RegionTerm("zone", "avoid", Box(4.0, 4.0, 8.0, 8.0), weight=2.0, reduce="max")
ROOM = RegionTerm("room", "stay", Box(0.0, 0.0, 4.0, 20.0), weight=0.5, reduce="min")


def xy_states(points: list[list[float]]) -> torch.Tensor:
    """States whose mapped positions are ``points`` (T, 2) -> (T, 3)."""
    p = torch.tensor(points)
    return torch.cat([(p - B) / 10.0, torch.zeros(len(points), 1)], dim=-1)


def test_region_penalties_by_hand():
    xy = torch.tensor([[6.0, 5.0], [2.0, 2.0], [4.5, 7.0]])
    # depth inside the zone: min(6-4, 8-6, 5-4, 8-5) = 1; outside 0; min(0.5, 3.5, 3, 1) = 0.5
    torch.testing.assert_close(ZONE.penalty(xy), torch.tensor([1.0, 0.0, 0.25]))
    # squared distance outside the room (x <= 4): 2^2, 0, 0.5^2
    torch.testing.assert_close(ROOM.penalty(xy), torch.tensor([4.0, 0.0, 0.25]))
    margin = RegionTerm("zone", "avoid", Box(4.0, 4.0, 8.0, 8.0), margin=1.0)
    torch.testing.assert_close(margin.penalty(torch.tensor([[3.5, 6.0]])), torch.tensor([0.25]))
    saturated = RegionTerm("room", "stay", Box(0.0, 0.0, 4.0, 20.0), saturation=1.0)
    far = saturated.penalty(torch.tensor([[100.0, 5.0]]))
    assert 0.99 < float(far) <= 1.0  # flat far away, about saturation^2


def test_cost_with_regions_terms_and_total():
    cost = IntrinsicCost(goal=xy_states([[1.0, 2.0]]), regions=[ZONE, ROOM], position_weight=W, position_bias=B,
                         action_weight=0.1)
    path = xy_states([[0.0, 0.0], [6.0, 5.0], [2.0, 2.0]])  # steps 1..2: in the zone, then in the room
    states, actions = path[None, None], torch.ones(1, 1, 2, 2)
    terms = cost.terms(states, actions)
    assert set(terms) == {"goal", "action", "zone", "room"}
    torch.testing.assert_close(terms["zone"], torch.tensor([[1.0]]))  # max over steps
    torch.testing.assert_close(terms["room"], torch.tensor([[0.0]]))  # min over steps
    expected = terms["goal"] + 0.1 * terms["action"] + 2.0 * terms["zone"] + 0.5 * terms["room"]
    torch.testing.assert_close(cost(states, actions), expected)
    assert cost.weights == {"goal": 1.0, "action": 0.1, "zone": 2.0, "room": 0.5}
    steps = cost.step_terms(path[None], torch.ones(1, 2, 2))  # per transition, (N=1, T=2)
    torch.testing.assert_close(steps["zone"], torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(steps["room"], torch.tensor([[4.0, 0.0]]))
    torch.testing.assert_close(steps["action"], torch.tensor([[2.0, 2.0]]))
    torch.testing.assert_close(cost.step_cost(path[None], torch.ones(1, 2, 2)),
                               steps["goal"] + 0.1 * steps["action"] + 2.0 * steps["zone"] + 0.5 * steps["room"])


def test_region_terms_are_differentiable():
    cost = IntrinsicCost(goal=torch.zeros(1, 3), regions=[ZONE, ROOM], position_weight=W, position_bias=B)
    states = xy_states([[0.0, 0.0], [6.0, 5.0], [5.0, 6.5]])[None, None].clone().requires_grad_(True)
    cost(states, torch.zeros(1, 1, 2, 2)).sum().backward()
    assert states.grad is not None and torch.isfinite(states.grad).all() and states.grad.abs().sum() > 0


def test_goal_set_is_the_nearest_goal():
    goal_set = torch.tensor([[[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]])  # (B=1, K=2, D=3)
    cost = IntrinsicCost(goal_set=goal_set, reduce_min=True)
    states = torch.tensor([[[[9.0, 9.0, 9.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]])  # (1, 1, 3, 3)
    # step 1: nearest is (3, 0, 0) at 1; step 2: (0, 0, 0) at 1 -> min 1
    torch.testing.assert_close(cost.terms(states, torch.zeros(1, 1, 2, 1))["goal"], torch.tensor([[1.0]]))
    torch.testing.assert_close(cost.goal_distance(states), torch.tensor([[[198.0, 1.0, 1.0]]]))
    with pytest.raises(ValueError, match="not both"):
        IntrinsicCost(goal=torch.zeros(1, 3), goal_set=goal_set)


def test_regions_keep_the_cost_immutable_and_parameter_free():
    cost = IntrinsicCost(goal=torch.zeros(1, 3), regions=[ZONE], position_weight=W, position_bias=B)
    assert list(cost.parameters()) == []
    assert set(cost.state_dict()) == {"goal", "position_weight", "position_bias"}
    for name, value in (("regions", ()), ("position_weight", torch.zeros(3, 2)), ("goal_weight", 5.0)):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(cost, name, value)
    with pytest.raises(AttributeError, match="parameters"):
        cost.register_parameter("w", nn.Parameter(torch.ones(1)))
    with pytest.raises(Exception):  # frozen dataclass: the region itself cannot change either
        cost.regions[0].weight = 0.0  # type: ignore[misc]
    # an optimiser has nothing to train
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.SGD(cost.parameters(), lr=0.1)
    moved = cost.with_goal(torch.ones(1, 3))
    assert moved.regions == cost.regions and torch.equal(moved.position_weight, W)
    torch.testing.assert_close(cost.goal, torch.zeros(1, 3))


def test_bad_region_inputs():
    with pytest.raises(ValueError, match="position map"):
        IntrinsicCost(goal=torch.zeros(1, 3), regions=[ZONE])
    with pytest.raises(ValueError, match="distinct"):
        IntrinsicCost(regions=[ZONE, ZONE], position_weight=W, position_bias=B)
    with pytest.raises(ValueError, match="x_min < x_max"):
        Box(5.0, 0.0, 1.0, 3.0)
    with pytest.raises(ValueError, match="reserved"):
        RegionTerm("goal", "avoid", Box(0.0, 0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="kind"):
        RegionTerm("zone", "enter", Box(0.0, 0.0, 1.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight"):
        RegionTerm("zone", "avoid", Box(0.0, 0.0, 1.0, 1.0), weight=-1.0)
    with pytest.raises(ValueError, match="weight \\(D, 2\\)"):
        IntrinsicCost(regions=[ZONE], position_weight=torch.zeros(3, 3), position_bias=torch.zeros(3))


def test_position_map_equals_the_probe():
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(200, 5, generator=gen) * torch.tensor([1.0, 2.0, 3.0, 0.5, 4.0]) + 1.0
    targets = features[:, :2] * 3.0 + features[:, 2:3]
    probe = fit_linear_probe(features, targets, ridge=0.0)
    weight, bias = position_map_from_probe(probe)
    torch.testing.assert_close(features @ weight + bias, probe.predict(features), atol=1e-4, rtol=1e-4)


def test_per_problem_cost_picks_each_problems_cost():
    left = IntrinsicCost(regions=[RegionTerm("room", "stay", Box(0.0, 0.0, 4.0, 20.0))], goal_weight=0.0,
                         position_weight=W, position_bias=B)
    right = IntrinsicCost(regions=[RegionTerm("room", "stay", Box(10.0, 0.0, 14.0, 20.0))], goal_weight=0.0,
                          position_weight=W, position_bias=B)
    both = PerProblemCost([left, right], torch.tensor([0, 1]))
    path = xy_states([[2.0, 5.0], [2.0, 5.0]])[None, None].expand(2, 1, 2, 3)  # at x = 2 in both problems
    actions = torch.zeros(2, 1, 1, 2)
    torch.testing.assert_close(both(path, actions), torch.tensor([[0.0], [64.0]]))  # 8 px outside the right room
    torch.testing.assert_close(both.step_terms(path[:, 0], actions[:, 0])["room"], torch.tensor([[0.0], [64.0]]))
    with pytest.raises(ValueError, match="share"):
        PerProblemCost([left, IntrinsicCost(goal=torch.zeros(1, 3))], torch.tensor([0]))
