"""Distilling a planner into a policy on a toy problem whose optimal action is known, and the
policy's rollout that warm-starts Mode-2."""

from __future__ import annotations

import pytest
import torch

from hjepa.agent.distill import dagger, reinitialise
from hjepa.agent.memory import ShortTermMemory
from hjepa.agent.policy import GoalPolicy, fit_policy, policy_plan

STEPS = 8


def expert(state: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """The optimal bounded action in the world s' = s + a, |a_i| <= 1: straight at the goal."""
    return (goal - state).clamp(-1.0, 1.0)


def toy_dynamics(state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    return state + action


def test_dagger_recovers_the_optimal_action():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    policy = GoalPolicy(2, 2, 2, max_action=1.0, hidden=64, layers=3)
    memory = ShortTermMemory(400, STEPS, 2, 2, 2, ["goal", "action"])

    def rollout(round_index: int, act) -> float:
        """``act`` drives 32 episodes; the expert labels every visited state; returns success."""
        gen = torch.Generator().manual_seed(100 + round_index)
        state = torch.rand(32, 2, generator=gen) * 8 - 4
        goal = torch.rand(32, 2, generator=gen) * 8 - 4
        states, actions, labels = [state], [], []
        for _ in range(STEPS):
            with torch.no_grad():
                action = act(state, goal)
            labels.append(expert(state, goal))
            actions.append(action)
            state = toy_dynamics(state, action)
            states.append(state)
        terms = {"goal": torch.stack([(s - goal).square().sum(-1) for s in states[1:]], 1),
                 "action": torch.stack([a.square().sum(-1) for a in actions], 1)}
        memory.add(torch.stack(states, 1), torch.stack(actions, 1), terms, torch.zeros(32, STEPS, dtype=torch.bool),
                   goal, torch.full((32,), STEPS), teacher_actions=torch.stack(labels, 1))
        return float(((state - goal).norm(dim=-1) < 0.5).float().mean())

    rollout(0, expert)  # round 0: the expert acts (behaviour cloning data)
    history = dagger(policy, memory, lambda r: {"success_rate": rollout(r, policy)}, rounds=2, fit_steps=300,
                     batch_size=128, lr=3e-3, generator=generator)
    assert [h["dagger_round"] for h in history] == [0, 1, 2]
    assert history[0]["labels"] < history[1]["labels"] < history[2]["labels"]  # labels aggregate
    test = torch.Generator().manual_seed(7)
    state = torch.rand(500, 2, generator=test) * 8 - 4
    goal = torch.rand(500, 2, generator=test) * 8 - 4
    with torch.no_grad():
        error = (policy(state, goal) - expert(state, goal)).square().sum(-1).mean()
    assert error < 0.05, float(error)
    assert rollout(99, policy) > 0.8


def test_policy_output_is_bounded_and_plan_has_the_horizon():
    policy = GoalPolicy(3, 3, 2, max_action=0.5, hidden=16, layers=2)
    state = torch.randn(4, 3) * 100
    goal = torch.randn(4, 3) * 100
    action = policy(state, goal)
    assert action.shape == (4, 2) and action.abs().max() <= 0.5
    plan = policy_plan(policy, lambda s, a: s + torch.cat([a, a[..., :1]], -1), state, goal, horizon=5)
    assert plan.shape == (4, 5, 2) and plan.abs().max() <= 0.5
    with pytest.raises(ValueError, match="policy expects"):
        policy(torch.zeros(1, 2), torch.zeros(1, 3))


def test_fit_policy_checks_its_data():
    policy = GoalPolicy(2, 2, 2, max_action=1.0, hidden=8, layers=2)
    with pytest.raises(ValueError, match="same M"):
        fit_policy(policy, torch.zeros(3, 2), torch.zeros(2, 2), torch.zeros(3, 2), steps=1)
    with pytest.raises(ValueError, match="NaN"):
        fit_policy(policy, torch.zeros(1, 2), torch.zeros(1, 2), torch.full((1, 2), float("nan")), steps=1)
    memory = ShortTermMemory(2, 2, 2, 2, 2, ["goal"])
    with pytest.raises(ValueError, match="no labelled steps"):
        dagger(policy, memory, lambda r: {}, rounds=0, fit_steps=1)


def test_stochastic_policy_learns_the_spread_of_its_labels():
    """Labels = expert action + Gaussian noise whose std depends on the state (0.1 left of x = 0,
    0.4 right of it): the Gaussian fit recovers the expert as its mean and each side's std."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    state = torch.rand(4000, 2, generator=gen) * 4 - 2
    goal = torch.rand(4000, 2, generator=gen) * 4 - 2
    spread = torch.where(state[:, :1] < 0, 0.1, 0.4)
    labels = expert(state, goal) * 0.5 + spread * torch.randn(4000, 2, generator=gen)
    policy = GoalPolicy(2, 2, 2, max_action=2.0, hidden=64, layers=3, stochastic=True)
    fit_policy(policy, state, goal, labels, steps=1500, batch_size=256, lr=3e-3, generator=gen)
    with torch.no_grad():
        mean, std = policy.distribution(state, goal)
    assert (mean - expert(state, goal) * 0.5).square().sum(-1).mean() < 0.02
    left, right = state[:, 0] < -0.2, state[:, 0] > 0.2
    assert abs(float(std[left].mean()) - 0.1) < 0.04, float(std[left].mean())
    assert abs(float(std[right].mean()) - 0.4) < 0.06, float(std[right].mean())
    with torch.no_grad():
        action, around = policy.sample(state, goal, torch.Generator().manual_seed(1))
    assert torch.equal(around, mean) and action.abs().max() <= 2.0
    assert abs(float((action - mean)[right].std()) - 0.4) < 0.06


def test_deterministic_policy_samples_its_mean():
    policy = GoalPolicy(2, 2, 2, max_action=1.0, hidden=8, layers=2)
    state, goal = torch.randn(5, 2), torch.randn(5, 2)
    action, mean = policy.sample(state, goal, torch.Generator().manual_seed(0))
    assert policy.distribution(state, goal)[1] is None and torch.equal(action, mean)
    assert torch.equal(mean, policy(state, goal))


def test_reinitialise_draws_new_parameters_of_the_same_shapes():
    torch.manual_seed(0)
    policy = GoalPolicy(2, 2, 2, max_action=1.0, hidden=8, layers=3)
    before = {name: p.detach().clone() for name, p in policy.named_parameters()}
    with torch.no_grad():
        for p in policy.parameters():
            p.fill_(3.0)  # as if trained far from any initialisation
    reinitialise(policy)
    for name, p in policy.named_parameters():
        assert p.shape == before[name].shape and not torch.all(p == 3.0), name
