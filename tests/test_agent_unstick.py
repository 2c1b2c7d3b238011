"""Mode-2's reaction to an action that was predicted to move the agent and did not (``unstick``)."""

from __future__ import annotations

import pytest
import torch

from hjepa.agent.agent import Agent
from hjepa.planning.mppi import MPPI

GOAL = torch.tensor([[3.0, 0.0], [3.0, 0.0]])


def leaky(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """A world model that knows no walls: ``s + a``, ``(B, S, 2)``."""
    return states + actions


def to_goal(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Squared distance of the last predicted state to the goal, ``(B, S)``."""
    return (states[:, :, -1] - GOAL[: states.shape[0], None]).square().sum(-1)


def agent(unstick: bool, seed: int = 0) -> Agent:
    planner = MPPI(2, -1.0, 1.0, samples=16, iterations=2, noise_std=0.5)
    out = Agent(leaky, planner, 3, "mode2", 1.0, torch.Generator().manual_seed(seed), unstick=unstick)
    out.reset(to_goal, torch.zeros(2, 2))
    return out


def test_a_blocked_action_is_followed_by_one_random_action_of_full_norm():
    start = torch.zeros(2, 2)
    with_it, without = agent(True), agent(False)
    first, first_plain = with_it.act(start), without.act(start)
    assert torch.equal(first.action, first_plain.action) and not first.random.any() and first_plain.random is None
    assert float(first.action[0, 0]) > 0.5  # heads for the goal at x = 3
    # Episode 0 was blocked by a wall (it did not move), episode 1 moved as predicted.
    observed = torch.stack([start[0], start[1] + first.action[1]])
    second, second_plain = with_it.act(observed), without.act(observed)
    assert second.random.tolist() == [True, False]
    assert float(second.action[0].norm()) == pytest.approx(1.0)
    assert not torch.allclose(second.action[0], second_plain.action[0])  # not the plan that failed again
    assert torch.equal(second.action[1], second_plain.action[1])  # the moving episode keeps its plan
    assert torch.equal(second.consensus, second_plain.consensus)  # what planning preferred, for labels
    assert torch.equal(with_it.warm_start[0], torch.zeros_like(with_it.warm_start[0]))  # re-plans from scratch
    assert torch.equal(with_it.warm_start[1], without.warm_start[1])


def test_without_unstick_a_blocked_agent_repeats_the_failing_action():
    plain = agent(False)
    state = torch.zeros(2, 2)
    actions = [plain.act(state).action for _ in range(4)]  # the wall keeps it where it is
    assert all(float(a[:, 0].min()) > 0.5 for a in actions)  # it keeps pushing towards x = 3


def test_an_agent_that_stays_put_on_purpose_is_not_stuck():
    still = agent(True)
    still.last = (torch.zeros(2, 2), torch.zeros(2, 2))  # it predicted no move and made none
    assert not still.stuck(torch.zeros(2, 2)).any()
    still.reset(to_goal, torch.zeros(2, 2))  # a new episode forgets the last transition
    assert still.last is None and not still.stuck(torch.zeros(2, 2)).any()


def test_a_labelling_teacher_must_not_unstick():
    from hjepa.agent.episodes import AgentController

    with pytest.raises(ValueError, match="unstick=False"):
        AgentController(agent(False), None, None, torch.zeros(0, 2), 1, teacher=agent(True))
