"""The critic learns a known cost-to-go on a toy chain (Monte Carlo and TD(0)), hindsight returns
are the cost actually paid, and the critic planning cost is the Bellman sum."""

from __future__ import annotations

import pytest
import torch

from hjepa.agent.critic import Critic
from hjepa.agent.critic_ensemble import CriticEnsemble
from hjepa.agent.critic_training import critic_error, hindsight_batch, mean_return, train_critic
from hjepa.agent.memory import ShortTermMemory
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.cost.terminal import CriticPlanningCost

K, GAMMA = 6, 0.8  # chain 0 .. K-1, the last cell is the goal


def chain_memory() -> ShortTermMemory:
    """From every start, step right until the goal: cost 1 per step, done on arrival."""
    memory = ShortTermMemory(K, K - 1, K, K, 1, ["goal", "action"])
    eye = torch.eye(K)
    for start in range(K - 1):
        length = K - 1 - start
        states = torch.zeros(1, K, K)
        states[0, : length + 1] = eye[start : start + length + 1]
        done = torch.zeros(1, K - 1, dtype=torch.bool)
        done[0, length - 1] = True
        terms = {"goal": torch.ones(1, K - 1), "action": torch.zeros(1, K - 1)}
        memory.add(states, torch.ones(1, K - 1, 1), terms, done, eye[K - 1 :], torch.tensor([length]))
    return memory


def truth() -> torch.Tensor:
    steps = torch.arange(K - 1, 0, -1, dtype=torch.float32)  # steps to go from cell 0 .. K-2
    return (1 - GAMMA**steps) / (1 - GAMMA)


@pytest.mark.parametrize("method, steps", [("mc", 400), ("td", 1500)])
def test_critic_learns_the_chains_cost_to_go(method, steps):
    torch.manual_seed(0)
    memory = chain_memory()
    weights = {"goal": 1.0, "action": 0.0}
    critic = Critic(K, K, hidden=64, layers=2, value_scale=mean_return(memory, weights, GAMMA))
    history = train_critic(critic, memory, weights, GAMMA, method, steps=steps, batch_size=64, lr=3e-3,
                           target_tau=0.05, generator=torch.Generator().manual_seed(0), log_every=100)
    assert history[-1]["critic_loss"] < history[0]["critic_loss"]
    with torch.no_grad():
        values = critic(torch.eye(K)[: K - 1], torch.eye(K)[K - 1 :].expand(K - 1, K))
    torch.testing.assert_close(values, truth(), rtol=0.08, atol=0.05)
    assert critic_error(critic, memory, weights, GAMMA)["critic_corr"] > 0.98


def test_hindsight_returns_are_the_cost_paid_until_the_goal_state():
    memory = chain_memory()
    episode, t, goal, returns = hindsight_batch(memory, 200, {"goal": 1.0, "action": 0.0}, GAMMA, True,
                                                torch.Generator().manual_seed(0))
    eye = torch.eye(K)
    # goal = a one-hot state reached at step k > t; steps t..k-2 cost ||e_i - e_goal||^2 = 2, step k-1 costs 0
    start = memory.states[episode, t].argmax(-1)
    target = goal.argmax(-1)
    assert (target > start).all() and torch.equal(goal, eye[target])
    n = (target - start).float()
    expected = 2 * (1 - GAMMA ** (n - 1)) / (1 - GAMMA)
    torch.testing.assert_close(returns, expected)


def test_anchor_pairs_put_the_value_at_the_goal_to_zero():
    """On the chain the critic never sees a state that is its own goal; anchor pairs (s, s) -> 0
    teach it V(g, g) = 0 for every cell, while the chain's values stay right."""
    weights = {"goal": 1.0, "action": 0.0}
    at_goal = {}
    for anchor in (0.0, 0.25):
        torch.manual_seed(0)
        memory = chain_memory()
        critic = Critic(K, K, hidden=64, layers=2, value_scale=mean_return(memory, weights, GAMMA))
        train_critic(critic, memory, weights, GAMMA, "mc", steps=600, batch_size=64, lr=3e-3, anchor=anchor,
                     generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            at_goal[anchor] = critic(torch.eye(K)[: K - 1], torch.eye(K)[: K - 1])
            values = critic(torch.eye(K)[: K - 1], torch.eye(K)[K - 1 :].expand(K - 1, K))
        if anchor:
            torch.testing.assert_close(values, truth(), rtol=0.08, atol=0.05)
    assert at_goal[0.25].max() < 0.05 < at_goal[0.0].max(), at_goal
    with pytest.raises(ValueError, match="anchor"):
        train_critic(Critic(K, 3), chain_memory(), weights, GAMMA, steps=1, anchor=0.1)


def test_critic_planning_cost_is_the_bellman_sum():
    goal = torch.zeros(2, 3)
    intrinsic = IntrinsicCost(goal, action_weight=1.0)
    critic = Critic(3, 3, hidden=8, layers=2)
    cost = CriticPlanningCost(intrinsic, critic, goal, discount=0.5, critic_weight=2.0)
    states = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(0))  # (B, S, T+1, D)
    actions = torch.randn(2, 4, 2, 1, generator=torch.Generator().manual_seed(1))
    steps = intrinsic.step_cost(states, actions)  # (B, S, T)
    with torch.no_grad():
        expected = steps[..., 0] + 0.5 * steps[..., 1] + 2.0 * 0.25 * critic(states[:, :, -1], goal[:, None])
        torch.testing.assert_close(cost(states, actions), expected)
    assert set(cost.terms(states, actions)) == {"intrinsic", "critic"}
    assert CriticPlanningCost(intrinsic, None, None, 0.5)(states, actions).shape == (2, 4)
    with pytest.raises(ValueError, match="goal_input"):
        CriticPlanningCost(intrinsic, critic, None, 0.5)


def test_bad_training_settings():
    memory = chain_memory()
    critic = Critic(K, K)
    with pytest.raises(ValueError, match="method"):
        train_critic(critic, memory, {"goal": 1.0}, GAMMA, "sarsa", steps=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="discount"):
        train_critic(critic, memory, {"goal": 1.0}, 1.0, steps=1)
    with pytest.raises(ValueError, match="hindsight"):
        train_critic(critic, memory, {"action": 1.0}, GAMMA, steps=1, hindsight=0.5)
    with pytest.raises(ValueError, match="empty"):
        train_critic(critic, ShortTermMemory(2, 2, K, K, 1, ["goal"]), {"goal": 1.0}, GAMMA, steps=1)


def test_ensemble_is_the_mean_of_its_members_and_checks_their_sizes():
    torch.manual_seed(0)
    members = [Critic(K, K, hidden=16, layers=2, value_scale=2.0) for _ in range(3)]
    ensemble = CriticEnsemble(members)
    state, goal = torch.randn(4, 7, K), torch.randn(4, 7, K)
    with torch.no_grad():
        expected = (members[0](state, goal) + members[1](state, goal) + members[2](state, goal)) / 3
        torch.testing.assert_close(ensemble(state, goal), expected)
    assert ensemble(state, goal).shape == (4, 7) and float(ensemble.value_scale) == 2.0
    assert (ensemble.state_dim, ensemble.goal_dim) == (K, K)
    with pytest.raises(ValueError, match="at least one"):
        CriticEnsemble([])
    with pytest.raises(ValueError, match="share"):
        CriticEnsemble([Critic(K, K), Critic(K, 3)])
