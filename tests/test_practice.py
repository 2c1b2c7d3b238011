"""Practice: plans executed open loop become training data; mixed window batches; dataset concat."""

from __future__ import annotations

import pytest
import torch

from hjepa.agent.practice import execute_open_loop, practice_episodes
from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import MixedWindowSampler, RenderedFrames, WindowSampler
from hjepa.envs.two_rooms import Layout, TwoRooms, TwoRoomsConfig
from hjepa.planning.mppi import MPPI
from hjepa.world.build import WorldModelConfig, build_world_model


def fixed_layout(n: int, env: TwoRooms) -> Layout:
    return Layout(torch.full((n,), env.config.fixed_wall_x), torch.full((n,), env.config.fixed_door_y))


def windows(data: Trajectories, window: int) -> WindowSampler:
    """Windows of ``window`` macro steps of 4 environment steps, observations pooled by 4."""
    return WindowSampler(data, RenderedFrames(TwoRooms(), data, 4), window, 4)


def dataset(n: int, steps: int, offset: float = 0.0) -> Trajectories:
    positions = torch.full((n, steps + 1, 2), 10.0 + offset)
    return Trajectories(torch.zeros(n, steps, 2), positions, episode_arrays={"wall_x": torch.full((n,), 30), "door_y": torch.full((n,), 31.5)})


def test_execute_open_loop_matches_stepping_and_stops_at_the_wall():
    env = TwoRooms(TwoRoomsConfig())
    layout = fixed_layout(2, env)
    start = torch.tensor([[20.0, 10.0], [20.0, 31.5]])  # in front of solid wall / in front of the door
    actions = torch.tensor([2.0, 0.0]).expand(2, 12, 2)  # 24 px to the right
    path = execute_open_loop(env, start, layout, actions)
    assert path.shape == (2, 13, 2)
    pos = start
    for t in range(12):
        pos = env.step(pos, actions[:, t], layout)
        torch.testing.assert_close(path[:, t + 1], pos)
    wall = env.config.fixed_wall_x - 0.5
    assert path[0, :, 0].max() < wall  # blocked by the wall
    assert path[1, -1, 0] > wall + env.config.wall_width  # went through the door


def test_execute_open_loop_rejects_bad_shapes():
    env = TwoRooms(TwoRoomsConfig())
    with pytest.raises(ValueError, match="actions must be"):
        execute_open_loop(env, torch.zeros(2, 2), fixed_layout(2, env), torch.zeros(3, 4, 2))


def test_practice_episodes_hold_each_planned_action_and_record_what_happened():
    torch.manual_seed(0)
    env = TwoRooms(TwoRoomsConfig())
    config = WorldModelConfig(channels=(8,), spatial_channels=4, predictor_hidden=8, predictor_layers=2)
    model, _ = build_world_model(config)
    model.eval()
    n, horizon = 5, 3
    generator = torch.Generator().manual_seed(0)
    layout = fixed_layout(n, env)
    start = env.sample_in_room(layout, torch.zeros(n, dtype=torch.long), generator)
    goal = env.sample_in_room(layout, torch.ones(n, dtype=torch.long), generator)
    planner = MPPI(2, -2.0, 2.0, samples=8, iterations=1, noise_std=2.0)
    episodes = practice_episodes(
        env, model, planner, horizon, config.frameskip, 1.5, start, goal, layout, generator, chunk=2
    )
    assert len(episodes) == n and episodes.steps == horizon * config.frameskip
    actions = episodes.actions.reshape(n, horizon, config.frameskip, 2)
    torch.testing.assert_close(actions, actions[:, :, :1].expand_as(actions))  # held for frameskip steps
    assert float(episodes.actions.norm(dim=-1).max()) <= 1.5 + 1e-5  # clipped as inside the model
    torch.testing.assert_close(episodes.positions, execute_open_loop(env, start, layout, episodes.actions))
    assert env.is_free(episodes.positions.transpose(0, 1), layout).all()
    torch.testing.assert_close(episodes.layout().wall_x, layout.wall_x)


def test_practice_episodes_rejects_mismatched_inputs():
    env = TwoRooms(TwoRoomsConfig())
    model, _ = build_world_model(WorldModelConfig(channels=(8,), spatial_channels=4, predictor_hidden=8))
    planner = MPPI(2, -2.0, 2.0, samples=4, iterations=1)
    with pytest.raises(ValueError, match="must agree"):
        practice_episodes(env, model, planner, 2, 4, 2.0, torch.zeros(3, 2), torch.zeros(2, 2), fixed_layout(3, env))


def test_concat_keeps_episodes_in_order_and_checks_lengths():
    joined = Trajectories.concat([dataset(2, 5), dataset(3, 5, offset=1.0)])
    assert len(joined) == 5
    assert joined.positions[:2].eq(10.0).all() and joined.positions[2:].eq(11.0).all()
    with pytest.raises(ValueError, match="different lengths"):
        Trajectories.concat([dataset(2, 5), dataset(2, 6)])
    with pytest.raises(ValueError, match="nothing"):
        Trajectories.concat([])


def test_mixed_sampler_draws_each_part_in_proportion():
    a = windows(dataset(4, 16), 2)
    b = windows(dataset(4, 16, offset=5.0), 2)
    mixed = MixedWindowSampler([a, b], [0.25, 0.75])
    batch = mixed.sample(8, torch.Generator().manual_seed(0))
    assert batch.obs.shape == (8, 3, 2, 16, 16) and batch.actions.shape == (8, 2, 8)
    from_b = batch.positions[:, 0, 0] == 15.0
    assert from_b.tolist() == [False] * 2 + [True] * 6
    for batch_size in (1, 3, 7, 100):
        counts = mixed.counts(batch_size)
        assert sum(counts) == batch_size and min(counts) >= 0
    assert MixedWindowSampler([a, b, a], [0.0, 0.5, 0.5]).counts(3) in ([0, 2, 1], [0, 1, 2])


def test_mixed_sampler_rejects_bad_fractions_and_shapes():
    a = windows(dataset(2, 16), 2)
    c = windows(dataset(2, 16), 3)
    with pytest.raises(ValueError, match="sum to 1"):
        MixedWindowSampler([a, a], [0.5, 0.6])
    with pytest.raises(ValueError, match="one fraction per sampler"):
        MixedWindowSampler([a], [0.5, 0.5])
    with pytest.raises(ValueError, match="different shapes"):
        MixedWindowSampler([a, c], [0.5, 0.5])
