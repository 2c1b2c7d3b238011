"""IntrinsicCost: hand-computed values on tiny tensors, and immutability."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hjepa.cost.intrinsic import IntrinsicCost

# B=1 problem, S=2 plans, T=2 steps, D=2. Goal at (1, 0).
GOAL = torch.tensor([[1.0, 0.0]])
STATES = torch.tensor(
    [
        [
            [[0.0, 0.0], [1.0, 1.0], [3.0, 0.0]],  # squared distances 1, 1, 4
            [[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]],  # squared distances 1, 0, 4
        ]
    ]
)
ACTIONS = torch.tensor([[[[1.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [3.0, 4.0]]]])  # (1, 2, 2, 2)
# mean over steps of ||a||^2: (1 + 4) / 2 = 2.5 and (0 + 25) / 2 = 12.5


def test_default_is_final_step_squared_distance():
    cost = IntrinsicCost(GOAL)
    terms = cost.terms(STATES, ACTIONS)
    assert set(terms) == {"goal", "action"}
    torch.testing.assert_close(terms["goal"], torch.tensor([[4.0, 4.0]]))
    torch.testing.assert_close(terms["action"], torch.tensor([[2.5, 12.5]]))
    torch.testing.assert_close(cost(STATES, ACTIONS), torch.tensor([[4.0, 4.0]]))


def test_plain_l2_distance():
    cost = IntrinsicCost(GOAL, squared=False, step_weights=torch.tensor([0.0, 1.0, 1.0]))
    torch.testing.assert_close(cost.terms(STATES, ACTIONS)["goal"], torch.tensor([[3.0, 2.0]]))


def test_step_weights_and_weighted_sum():
    cost = IntrinsicCost(
        GOAL, goal_weight=2.0, action_weight=0.1, step_weights=torch.tensor([0.0, 0.5, 1.0])
    )
    terms = cost.terms(STATES, ACTIONS)
    torch.testing.assert_close(terms["goal"], torch.tensor([[4.5, 4.0]]))
    expected = 2.0 * torch.tensor([[4.5, 4.0]]) + 0.1 * torch.tensor([[2.5, 12.5]])
    torch.testing.assert_close(cost(STATES, ACTIONS), expected)


def test_min_over_horizon_excludes_current_step_by_default():
    cost = IntrinsicCost(GOAL, reduce_min=True)
    torch.testing.assert_close(cost.terms(STATES, ACTIONS)["goal"], torch.tensor([[1.0, 0.0]]))
    # Starting on the goal and walking away must not look as good as staying.
    on_goal = torch.tensor([[[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]]])
    acts = torch.zeros(1, 1, 2, 2)
    torch.testing.assert_close(cost(on_goal, acts), torch.tensor([[1.0]]))
    with_current = IntrinsicCost(GOAL, reduce_min=True, include_current=True)
    torch.testing.assert_close(with_current(on_goal, acts), torch.tensor([[0.0]]))


def test_soft_min_lies_between_min_and_mean_and_tends_to_min():
    sharp = IntrinsicCost(GOAL, reduce_min=True, softmin_temperature=1e-3)
    torch.testing.assert_close(sharp(STATES, ACTIONS), torch.tensor([[1.0, 0.0]]))
    soft = IntrinsicCost(GOAL, reduce_min=True, softmin_temperature=1.0)
    # plan 1, steps 1..2: distances (0, 4); softmax(-d) weights (1, e^-4) / (1 + e^-4)
    e = torch.exp(torch.tensor(-4.0))
    torch.testing.assert_close(soft(STATES, ACTIONS)[0, 1], 4 * e / (1 + e))
    value = soft(STATES, ACTIONS)
    assert (value >= torch.tensor([[1.0, 0.0]])).all()
    assert (value <= torch.tensor([[2.5, 2.0]])).all()  # the mean over steps 1..T


def test_min_avoids_the_wall_minimum_that_the_sum_has():
    # Plan 0 presses against a "wall" next to the goal for the whole horizon; plan 1 walks away
    # first (around the wall) and reaches the goal at the last step. The summed distance prefers
    # the wall; the minimum over the horizon prefers the plan that gets there.
    goal = torch.tensor([[0.0, 0.0]])
    wall = torch.tensor([[1.0, 0.0]]).expand(4, 2)
    around = torch.tensor([[1.0, 0.0], [1.0, 2.0], [0.0, 2.0], [0.0, 0.0]])
    states = torch.stack([wall, around])[None]  # (1, 2, 4, 2)
    actions = torch.zeros(1, 2, 3, 2)
    summed = IntrinsicCost(goal, step_weights=torch.ones(4))
    minimum = IntrinsicCost(goal, reduce_min=True)
    assert summed(states, actions)[0, 0] < summed(states, actions)[0, 1]
    assert minimum(states, actions)[0, 1] < minimum(states, actions)[0, 0]


def test_image_shaped_states_are_flattened_and_goal_batches():
    goals = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(2, 1, 1, 2)  # (B=2, C=1, H=1, W=2)
    states = STATES.view(1, 2, 3, 1, 1, 2).expand(2, -1, -1, -1, -1, -1)
    actions = ACTIONS.expand(2, -1, -1, -1)
    cost = IntrinsicCost(goals)
    torch.testing.assert_close(cost(states, actions), torch.tensor([[4.0, 4.0], [9.0, 5.0]]))
    shared = IntrinsicCost(goals[:1])  # batch 1 broadcasts over problems
    torch.testing.assert_close(shared(states, actions), torch.tensor([[4.0, 4.0], [4.0, 4.0]]))


def test_no_parameters_only_buffers():
    cost = IntrinsicCost(GOAL, step_weights=torch.tensor([0.0, 0.0, 1.0]))
    assert list(cost.parameters()) == []
    assert set(dict(cost.named_buffers())) == {"goal", "step_weights"}
    assert set(cost.state_dict()) == {"goal", "step_weights"}


def test_cannot_be_changed_after_construction():
    cost = IntrinsicCost(GOAL)
    with pytest.raises(AttributeError, match="immutable"):
        cost.goal = torch.zeros(1, 2)
    with pytest.raises(AttributeError, match="immutable"):
        cost.action_weight = 1.0
    with pytest.raises(AttributeError, match="parameters"):
        cost.register_parameter("w", nn.Parameter(torch.ones(1)))
    with pytest.raises(AttributeError):
        cost.w = nn.Parameter(torch.ones(1))
    with pytest.raises(AttributeError, match="immutable"):
        cost.register_buffer("extra", torch.ones(1))
    with pytest.raises(AttributeError):
        cost.add_module("critic", nn.Linear(2, 1))
    with pytest.raises(AttributeError, match="immutable"):
        del cost.goal
    assert list(cost.parameters()) == []
    torch.testing.assert_close(cost.goal, GOAL)
    cost.eval()  # flipping the training flag (e.g. from an enclosing agent) stays allowed
    cost.train()
    clone = copy.deepcopy(cost)
    torch.testing.assert_close(clone(STATES, ACTIONS), cost(STATES, ACTIONS))


def test_with_goal_returns_a_new_object():
    cost = IntrinsicCost(GOAL, action_weight=0.1, reduce_min=True)
    moved = cost.with_goal(torch.tensor([[3.0, 0.0]]))
    assert moved is not cost and isinstance(moved, IntrinsicCost)
    torch.testing.assert_close(cost.goal, GOAL)  # unchanged
    assert moved.reduce_min and moved.action_weight == 0.1
    # plan 0 reaches (3, 0) at step 2; plan 1's closest step is (1, 0) or (1, 2): 4
    torch.testing.assert_close(moved.terms(STATES, ACTIONS)["goal"], torch.tensor([[0.0, 4.0]]))
    deferred = IntrinsicCost(action_weight=1.0)
    with pytest.raises(ValueError, match="no goal"):
        deferred(STATES, ACTIONS)
    torch.testing.assert_close(
        deferred.with_goal(GOAL)(STATES, ACTIONS), torch.tensor([[6.5, 16.5]])
    )


def test_gradient_flows_to_states_and_actions():
    states = STATES.clone().requires_grad_(True)
    actions = ACTIONS.clone().requires_grad_(True)
    IntrinsicCost(GOAL, action_weight=1.0, reduce_min=True, softmin_temperature=0.5)(
        states, actions
    ).sum().backward()
    assert states.grad is not None and torch.isfinite(states.grad).all()
    torch.testing.assert_close(actions.grad, ACTIONS)  # d/da of mean_t ||a_t||^2 with T=2


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="batch"):
        IntrinsicCost(torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="not both"):
        IntrinsicCost(GOAL, step_weights=torch.ones(3), reduce_min=True)
    with pytest.raises(ValueError, match="reduce_min"):
        IntrinsicCost(GOAL, softmin_temperature=1.0)
    with pytest.raises(ValueError, match="NaN"):
        IntrinsicCost(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="step_weights"):
        IntrinsicCost(GOAL, step_weights=torch.ones(5))(STATES, ACTIONS)
    with pytest.raises(ValueError, match="goal of shape"):
        IntrinsicCost(torch.zeros(1, 3))(STATES, ACTIONS)
    with pytest.raises(ValueError, match="T\\+1"):
        IntrinsicCost(GOAL)(STATES[:, :, :2], ACTIONS)
