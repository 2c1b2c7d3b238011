"""Short-term memory: capacity, window sampling, returns, labels, saving."""

from __future__ import annotations

import pytest
import torch

from hjepa.agent.memory import ShortTermMemory, bootstrap_weights


def episodes(n: int, length: int, first: float = 0.0, done: bool = True):
    """``n`` episodes of ``length`` steps; state t of episode e is ``first + e`` in dim 0, t in dim 1."""
    e = torch.arange(n, dtype=torch.float32)[:, None, None] + first
    t = torch.arange(length + 1, dtype=torch.float32)[None, :, None]
    states = torch.cat([e.expand(n, length + 1, 1), t.expand(n, length + 1, 1)], dim=-1)  # (n, L+1, 2)
    actions = torch.ones(n, length, 1)
    terms = {"goal": torch.ones(n, length), "action": torch.zeros(n, length)}
    flags = torch.zeros(n, length, dtype=torch.bool)
    flags[:, -1] = done
    return states, actions, terms, flags, torch.zeros(n, 2), torch.full((n,), length)


def test_ring_buffer_keeps_the_newest_episodes():
    memory = ShortTermMemory(3, 5, 2, 2, 1, ["goal", "action"])
    memory.add(*episodes(2, 4, first=0.0))
    memory.add(*episodes(2, 4, first=10.0))
    assert len(memory) == 3 and memory.added == 4 and memory.transitions() == 12
    kept = sorted(memory.states[memory.slots, 0, 0].tolist())
    assert kept == [1.0, 10.0, 11.0]  # episode 0 was overwritten first
    memory.add(*episodes(5, 4, first=20.0))  # more than the capacity at once: the last 3 stay
    assert sorted(memory.states[memory.slots, 0, 0].tolist()) == [22.0, 23.0, 24.0]


def test_windows_stay_inside_one_episode():
    memory = ShortTermMemory(10, 6, 2, 2, 1, ["goal", "action"])
    states, actions, terms, flags, goals, _ = episodes(4, 6)
    lengths = torch.tensor([6, 2, 3, 1])
    memory.add(states, actions, terms, flags, goals, lengths)
    batch = memory.sample(500, 3, torch.Generator().manual_seed(0))
    assert batch.states.shape == (500, 4, 2) and batch.actions.shape == (500, 3, 1)
    assert batch.terms["goal"].shape == (500, 3) and batch.goals.shape == (500, 2)
    # only episodes with >= 3 steps (0 and 2), windows fully inside them, consecutive states
    assert set(batch.states[:, 0, 0].tolist()) == {0.0, 2.0}
    assert (batch.start + 3 <= lengths[batch.episode]).all()
    assert (batch.states[:, 1:, 1] - batch.states[:, :-1, 1] == 1).all()
    # uniform over the 4 + 1 windows: episode 0 holds 4 of them
    assert 0.7 < float((batch.episode == 0).float().mean()) < 0.9
    with pytest.raises(ValueError, match="no stored episode has 7 steps"):
        memory.sample(2, 7)
    same = memory.sample(8, 2, torch.Generator().manual_seed(1))
    again = memory.sample(8, 2, torch.Generator().manual_seed(1))
    assert torch.equal(same.states, again.states)


def test_returns_terminal_and_truncated():
    memory = ShortTermMemory(4, 4, 2, 2, 1, ["goal", "action"])
    memory.add(*episodes(1, 3, done=True))
    memory.add(*episodes(1, 2, done=False))
    returns = memory.returns({"goal": 1.0, "action": 0.0}, discount=0.5)
    # terminal after 3 unit costs: 1 + .5 + .25, 1 + .5, 1
    torch.testing.assert_close(returns[0, :3], torch.tensor([1.75, 1.5, 1.0]))
    # truncated: the last cost repeats forever, 1 / (1 - .5) = 2, then 1 + .5 * 2
    torch.testing.assert_close(returns[1, :2], torch.tensor([2.0, 2.0]))
    assert torch.isnan(returns[0, 3]) and torch.isnan(returns[1, 2:]).all()
    torch.testing.assert_close(memory.step_costs({"goal": 2.0})[0], torch.tensor([2.0, 2.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="does not store"):
        memory.step_costs({"zone": 1.0})


def test_labels_and_state_dict_round_trip(tmp_path):
    memory = ShortTermMemory(5, 4, 2, 2, 1, ["goal", "action"])
    states, actions, terms, flags, goals, lengths = episodes(2, 4)
    labels = torch.full((2, 4, 1), 0.5)
    memory.add(states, actions, terms, flags, goals, torch.tensor([4, 2]), teacher_actions=labels)
    memory.add(*episodes(1, 3))  # unlabelled
    s, g, a = memory.labelled()
    assert s.shape == (6, 2) and g.shape == (6, 2) and torch.equal(a, torch.full((6, 1), 0.5))
    torch.save(memory.state_dict(), tmp_path / "memory.pt")
    loaded = ShortTermMemory.from_state_dict(torch.load(tmp_path / "memory.pt", weights_only=True))
    assert len(loaded) == 3 and loaded.transitions() == memory.transitions()
    assert torch.equal(loaded.states, memory.states) and torch.equal(loaded.done, memory.done)
    assert torch.equal(loaded.returns({"goal": 1.0}, 0.9).nan_to_num(-1), memory.returns({"goal": 1.0}, 0.9).nan_to_num(-1))


def test_bad_inputs():
    with pytest.raises(ValueError, match="capacity"):
        ShortTermMemory(0, 4, 2, 2, 1, ["goal"])
    memory = ShortTermMemory(2, 3, 2, 2, 1, ["goal", "action"])
    states, actions, terms, flags, goals, lengths = episodes(1, 4)
    with pytest.raises(ValueError, match="max_length"):
        memory.add(states, actions, terms, flags, goals, lengths)
    states, actions, terms, flags, goals, lengths = episodes(1, 3)
    with pytest.raises(ValueError, match="names"):
        memory.add(states, actions, {"goal": terms["goal"]}, flags, goals, lengths)
    with pytest.raises(ValueError, match="states must have shape"):
        memory.add(states[:, :2], actions, terms, flags, goals, lengths)
    with pytest.raises(ValueError, match="lengths"):
        memory.add(states, actions, terms, flags, goals, torch.tensor([0]))


def test_weighted_sampling_and_bootstrap_resamples():
    memory = ShortTermMemory(6, 5, 2, 2, 1, ["goal", "action"])
    memory.add(*episodes(4, 5))  # slots 0-3 full, 4-5 empty
    weights = torch.tensor([0.0, 3.0, 1.0, 0.0, 0.0, 0.0])
    batch = memory.sample(4000, 2, torch.Generator().manual_seed(0), episode_weights=weights)
    chosen = batch.states[:, 0, 0]
    assert set(chosen.tolist()) == {1.0, 2.0}  # weight 0: never drawn
    assert abs(float((chosen == 1.0).float().mean()) - 0.75) < 0.03
    assert bool((batch.start <= 5 - 2).all())  # windows still fit in their episode
    with pytest.raises(ValueError, match="episode_weights"):
        memory.sample(1, 1, episode_weights=torch.ones(3))
    with pytest.raises(ValueError, match="weight 0"):
        memory.sample(1, 1, episode_weights=torch.zeros(6))
    counts = bootstrap_weights(memory, torch.Generator().manual_seed(1))
    assert counts.shape == (6,) and float(counts.sum()) == 4 and float(counts[4:].sum()) == 0
    draws = torch.stack([bootstrap_weights(memory, torch.Generator().manual_seed(s)) for s in range(200)])
    assert torch.allclose(draws[:, :4].mean(0), torch.ones(4), atol=0.2)  # each episode once on average
    assert bool((draws == 0).any())  # and some resamples leave episodes out
