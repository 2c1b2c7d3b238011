"""Planners on linear-quadratic problems whose optimum is known in closed form.

The system is a 2-D double integrator ``s' = A s + B a`` (state ``(x, y, vx, vy)``, action
``(ax, ay)``) with cost ``||s_T - g||^2 + r * sum_t ||a_t||^2``. The final state is affine in the
stacked actions, so the optimum is a linear least-squares problem solved with ``torch.linalg``.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from hjepa.control.dynamics import learned_dynamics
from hjepa.errors import InputError
from hjepa.planning.base import PlanResult, rollout, shift_plan
from hjepa.planning.cem import CEM
from hjepa.planning.gradient import GradientPlanner
from hjepa.planning.mppi import MPPI, mppi_weights
from hjepa.world.build import WorldModelConfig, build_world_model

DT = 0.5
A_MAT = torch.tensor(
    [[1, 0, DT, 0], [0, 1, 0, DT], [0, 0, 1, 0], [0, 0, 0, 1.0]], dtype=torch.float64
)
B_MAT = torch.tensor(
    [[0.5 * DT * DT, 0], [0, 0.5 * DT * DT], [DT, 0], [0, DT]], dtype=torch.float64
)
EFFORT = 0.1
T = 8


def dynamics(state: Tensor, action: Tensor) -> Tensor:
    return state @ A_MAT.T.to(state) + action @ B_MAT.T.to(state)


def make_cost(goal: Tensor):
    """Terminal distance to ``goal (B, 4)`` plus effort, ``(B, S)``."""

    def cost(states: Tensor, actions: Tensor) -> Tensor:
        terminal = (states[:, :, -1] - goal[:, None].to(states)).square().sum(-1)
        return terminal + EFFORT * actions.square().sum((-1, -2))

    return cost


def optimum(s0: Tensor, goal: Tensor, horizon: int = T) -> tuple[Tensor, Tensor]:
    """Unconstrained optimal plan ``(B, T, 2)`` and its cost ``(B,)`` by least squares."""
    # s_T = A^T s0 + sum_k A^(T-1-k) B a_k = A^T s0 + G a, a stacked as (T*2,)
    gain = torch.cat(
        [torch.linalg.matrix_power(A_MAT, horizon - 1 - k) @ B_MAT for k in range(horizon)], 1
    )
    lhs = torch.cat([gain, EFFORT**0.5 * torch.eye(2 * horizon, dtype=torch.float64)])
    free = s0.double() @ torch.linalg.matrix_power(A_MAT, horizon).T  # (B, 4)
    zeros = torch.zeros(len(s0), 2 * horizon, dtype=torch.float64)
    rhs = torch.cat([goal.double() - free, zeros], 1)
    plans = torch.linalg.lstsq(lhs.expand(len(s0), -1, -1), rhs.unsqueeze(-1)).solution
    plans = plans.view(len(s0), horizon, 2)
    return plans, plan_cost(s0.double(), goal.double(), plans)


def plan_cost(s0: Tensor, goal: Tensor, plans: Tensor) -> Tensor:
    """Cost of plans ``(B, T, 2)``, ``(B,)``."""
    return make_cost(goal)(rollout(s0, plans[:, None], dynamics), plans[:, None])[:, 0]


S0 = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
GOAL = torch.tensor([[1.0, -0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-1.0, 1.0, 0.0, 0.0]])


def planners() -> list:
    return [
        MPPI(2, -2.0, 2.0, samples=512, iterations=20, temperature=0.2, noise_std=0.3,
             elites=32, adapt_std=True, min_std=0.05),
        CEM(2, -2.0, 2.0, samples=512, elites=32, iterations=20, init_std=0.5, min_std=0.01,
            momentum=0.1),
        GradientPlanner(2, -2.0, 2.0, iterations=150, lr=0.05, restarts=4),
    ]


PLANNER_IDS = ["mppi", "cem", "gradient"]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_rollout_matches_closed_form():
    plans = torch.randn(3, 5, T, 2, generator=gen(), dtype=torch.float64)
    states = rollout(S0.double(), plans, dynamics)
    assert states.shape == (3, 5, T + 1, 4)
    assert torch.equal(states[:, :, 0], S0.double()[:, None].expand(-1, 5, -1))
    expected = S0.double()[:, None] @ torch.linalg.matrix_power(A_MAT, 3).T
    for k in range(3):
        expected = expected + plans[:, :, k] @ (torch.linalg.matrix_power(A_MAT, 2 - k) @ B_MAT).T
    torch.testing.assert_close(states[:, :, 3], expected)


def test_shift_plan():
    plan = torch.arange(6.0).view(1, 3, 2)
    assert shift_plan(plan).tolist() == [[[2, 3], [4, 5], [4, 5]]]
    assert shift_plan(plan, 2, repeat_last=False).tolist() == [[[4, 5], [0, 0], [0, 0]]]
    assert shift_plan(plan, 5).tolist() == [[[4, 5], [4, 5], [4, 5]]]
    assert torch.equal(shift_plan(plan, 0), plan)


@pytest.mark.parametrize("planner", planners(), ids=PLANNER_IDS)
def test_reaches_analytic_optimum(planner):
    _, best = optimum(S0, GOAL)
    zero_cost = plan_cost(S0, GOAL, torch.zeros(3, T, 2))
    result = planner.plan(S0, dynamics, make_cost(GOAL), T, generator=gen())
    assert isinstance(result, PlanResult)
    assert result.actions.shape == (3, T, 2) and result.cost.shape == (3,)
    # The reported cost is the cost of the returned plan.
    torch.testing.assert_close(result.cost, plan_cost(S0, GOAL, result.actions).float())
    # Within 1% of the gap between the zero plan and the optimum, for every problem.
    gap = (result.cost.double() - best) / (zero_cost - best)
    assert (gap >= -1e-4).all() and (gap < 0.01).all(), gap
    history = result.info["best_cost_history"]
    assert history.shape[1] == 3 and (history[1:] <= history[:-1]).all()


def test_plain_mppi_without_elites_or_adaptation_gets_close():
    # The paper's update: all samples weighted, fixed noise. Noisier, so a looser tolerance.
    planner = MPPI(2, -2.0, 2.0, samples=512, iterations=20, temperature=0.2, noise_std=0.2)
    _, best = optimum(S0, GOAL)
    zero_cost = plan_cost(S0, GOAL, torch.zeros(3, T, 2))
    result = planner.plan(S0, dynamics, make_cost(GOAL), T, generator=gen())
    assert ((result.cost.double() - best) / (zero_cost - best) < 0.05).all()


@pytest.mark.parametrize("planner", planners(), ids=PLANNER_IDS)
def test_tight_bounds_put_actions_on_the_bound(planner):
    # A far target velocity with a tiny box: every action matters equally (v_T = v_0 + dt sum a)
    # and the optimum pushes each one against the bound (upper for x, lower for y).
    def cost(states, actions):
        target = torch.tensor([50.0, -50.0]).to(states)
        return (states[:, :, -1, 2:] - target).square().sum(-1)

    planner.action_low, planner.action_high = torch.full((2,), -0.1), torch.full((2,), 0.1)
    if hasattr(planner, "min_std"):
        planner.min_std = 1e-3  # let the sampling distribution shrink onto the bound
    if isinstance(planner, MPPI):
        planner.temperature = 5.0  # costs here are ~5000: lambda must follow the cost scale
    result = planner.plan(torch.zeros(2, 4), dynamics, cost, T, generator=gen())
    assert (result.actions <= 0.1 + 1e-6).all() and (result.actions >= -0.1 - 1e-6).all()
    expected = torch.tensor([0.1, -0.1]).expand(2, T, 2)
    torch.testing.assert_close(result.actions, expected, atol=2e-3, rtol=0)


def test_bounds_hold_for_every_sample_and_per_dimension():
    planner = MPPI(2, [-0.5, 0.0], [0.5, 0.2], samples=64, iterations=3, noise_std=2.0)
    seen = []

    def cost(states, actions):
        seen.append(actions)
        return make_cost(GOAL)(states, actions)

    result = planner.plan(S0, dynamics, cost, T, generator=gen())
    for actions in seen + [result.actions, result.warm_start]:
        assert (actions[..., 0] >= -0.5).all() and (actions[..., 0] <= 0.5).all()
        assert (actions[..., 1] >= 0.0).all() and (actions[..., 1] <= 0.2).all()


def test_mppi_weights_sum_to_one_and_follow_the_formula():
    planner = MPPI(2, -2.0, 2.0, samples=32, iterations=2, temperature=0.3)
    result = planner.plan(S0, dynamics, make_cost(GOAL), T, generator=gen())
    weights = result.info["weights"]
    assert weights.shape == (3, 32) and (weights >= 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    costs = torch.tensor([[1.0, 2.0, float("nan"), float("inf")], [3.0, 3.0, 3.0, 3.0]])
    expected = torch.exp(-(torch.tensor([0.0, 1.0]) / 0.5))
    expected = expected / expected.sum()
    weights = mppi_weights(costs, 0.5)
    torch.testing.assert_close(weights[0], torch.cat([expected, torch.zeros(2)]))
    torch.testing.assert_close(weights[1], torch.full((4,), 0.25))
    all_bad = mppi_weights(torch.full((1, 4), float("nan")), 0.5)
    torch.testing.assert_close(all_bad, torch.full((1, 4), 0.25))


@pytest.mark.parametrize("planner", planners(), ids=PLANNER_IDS)
def test_same_seed_same_result(planner):
    first = planner.plan(S0, dynamics, make_cost(GOAL), T, generator=gen(7))
    second = planner.plan(S0, dynamics, make_cost(GOAL), T, generator=gen(7))
    assert torch.equal(first.actions, second.actions)
    assert torch.equal(first.cost, second.cost)
    assert torch.equal(first.warm_start, second.warm_start)


@pytest.mark.parametrize("planner", planners(), ids=PLANNER_IDS)
def test_problems_do_not_talk_to_each_other(planner):
    # Same seed, only problem 1's goal changes: problems 0 and 2 must come out identical.
    other_goal = GOAL.clone()
    other_goal[1] = torch.tensor([30.0, -20.0, 5.0, 5.0])
    base = planner.plan(S0, dynamics, make_cost(GOAL), T, generator=gen(3))
    changed = planner.plan(S0, dynamics, make_cost(other_goal), T, generator=gen(3))
    for b in (0, 2):
        torch.testing.assert_close(base.actions[b], changed.actions[b], atol=1e-6, rtol=0)
        torch.testing.assert_close(base.cost[b], changed.cost[b], atol=1e-6, rtol=0)
    assert not torch.allclose(base.actions[1], changed.actions[1])


@pytest.mark.parametrize("planner", planners(), ids=PLANNER_IDS)
def test_warm_start_beats_cold_start_with_few_iterations(planner):
    result = planner.plan(S0, dynamics, make_cost(GOAL), T, generator=gen())
    assert result.warm_start.shape == (3, T, 2)
    # Execute the first action, then replan from the next state.
    s1 = dynamics(S0[:, None], result.actions[:, None, 0])[:, 0]
    _, best = optimum(s1, GOAL)
    zero_cost = plan_cost(s1, GOAL, torch.zeros(3, T, 2))
    shifted_gap = (plan_cost(s1, GOAL, result.warm_start) - best) / (zero_cost - best)
    assert (shifted_gap < 0.25).all()  # the shifted plan is already a good guess
    # One warm iteration does at least as well as two cold ones.
    planner.iterations = 1
    warm = planner.plan(s1, dynamics, make_cost(GOAL), T, init=result.warm_start, generator=gen(1))
    planner.iterations = 2
    cold = planner.plan(s1, dynamics, make_cost(GOAL), T, generator=gen(1))
    assert (warm.cost <= cold.cost).all(), (warm.cost, cold.cost)


@pytest.mark.parametrize("planner", planners(), ids=PLANNER_IDS)
def test_cost_never_worse_than_init(planner):
    planner.iterations = 1
    init = torch.randn(3, T, 2, generator=gen(5)).clamp(-2, 2)
    result = planner.plan(S0, dynamics, make_cost(GOAL), T, init=init, generator=gen())
    assert (result.cost <= plan_cost(S0, GOAL, init).float() + 1e-5).all()


@pytest.mark.parametrize("planner", planners()[:2], ids=PLANNER_IDS[:2])
def test_nan_costs_are_treated_as_infinite(planner):
    def cost(states, actions):
        value = make_cost(GOAL)(states, actions)
        # Plans that push x positive in the first step "diverge".
        return torch.where(actions[:, :, 0, 0] > 0.3, torch.full_like(value, float("nan")), value)

    result = planner.plan(S0, dynamics, cost, T, generator=gen())
    assert torch.isfinite(result.cost).all() and torch.isfinite(result.actions).all()
    assert (result.actions[:, 0, 0] <= 0.3).all()


def test_gradient_planner_leaves_model_parameters_alone():
    model = nn.Linear(6, 4, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.cat([A_MAT, B_MAT], 1))

    def learned_dynamics(state, action):
        return model(torch.cat([state, action], -1))

    planner = GradientPlanner(2, -2.0, 2.0, iterations=150, lr=0.05, restarts=4)
    s0, goal = S0.double(), GOAL.double()
    with torch.no_grad():  # the planner must switch gradients back on for the actions
        result = planner.plan(s0, learned_dynamics, make_cost(goal), T, generator=gen())
    assert model.weight.grad is None
    assert not result.actions.requires_grad
    _, best = optimum(S0, GOAL)
    zero_cost = plan_cost(s0, goal, torch.zeros(3, T, 2, dtype=torch.float64))
    assert ((result.cost - best) / (zero_cost - best) < 0.01).all()
    with torch.inference_mode():
        again = planner.plan(s0, learned_dynamics, make_cost(goal), T, generator=gen())
    assert model.weight.grad is None
    torch.testing.assert_close(again.actions, result.actions)


@pytest.mark.parametrize("planner", planners(), ids=PLANNER_IDS)
def test_bad_inputs_raise(planner):
    cost = make_cost(GOAL)
    with pytest.raises(ValueError, match="horizon"):
        planner.plan(S0, dynamics, cost, 0)
    with pytest.raises(ValueError, match="init"):
        planner.plan(S0, dynamics, cost, T, init=torch.zeros(3, T + 1, 2))
    with pytest.raises(ValueError, match="init"):
        planner.plan(S0, dynamics, cost, T, init=torch.zeros(T, 2))
    with pytest.raises(ValueError, match="batched"):
        planner.plan(S0[0], dynamics, cost, T)
    with pytest.raises(ValueError, match="NaN"):
        planner.plan(torch.full((3, 4), float("nan")), dynamics, cost, T)
    with pytest.raises(ValueError, match="cost returned shape"):
        planner.plan(S0, dynamics, lambda s, a: cost(s, a).sum(1), T)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="action_low"):
        MPPI(2, [1.0, 1.0], [0.0, 2.0])
    with pytest.raises(ValueError, match="action_low"):
        CEM(2, [0.0, 0.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="elites"):
        CEM(2, -1.0, 1.0, samples=8, elites=9)
    with pytest.raises(ValueError, match="temperature"):
        MPPI(2, -1.0, 1.0, temperature=0.0)
    with pytest.raises(ValueError, match="restarts"):
        GradientPlanner(2, -1.0, 1.0, restarts=0)


def test_learned_dynamics_in_pieces_equals_one_call():
    """Planning without gradients calls the predictor in equal pieces of at most chunk_rows rows:
    the same next states (up to float rounding), any row count, and one call when gradients flow."""
    torch.manual_seed(0)
    model, _ = build_world_model(WorldModelConfig(architecture="spatial", channels=(4, 8), spatial_channels=4,
                                                  predictor_hidden=8, frameskip=2))
    model.eval()
    state = model.encode(torch.rand(7, 2, 64, 64)).detach()
    states, actions = state.unsqueeze(1).expand(7, 5, *state.shape[1:]).contiguous(), torch.randn(7, 5, 2)
    whole = learned_dynamics(model, 2, chunk_rows=10**6)
    pieces = learned_dynamics(model, 2, chunk_rows=4)  # 35 rows -> pieces of at most 4
    with torch.no_grad():
        torch.testing.assert_close(pieces(states, actions), whole(states, actions), rtol=1e-5, atol=1e-5)
    calls = []
    model.predictor.register_forward_hook(lambda *_: calls.append(1))
    pieces(states, actions)  # gradients enabled: one call, the graph intact
    assert len(calls) == 1
    with pytest.raises(InputError, match="chunk_rows"):
        learned_dynamics(model, 2, chunk_rows=0)
