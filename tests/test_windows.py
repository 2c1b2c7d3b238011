import pytest
import torch

from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import RenderedFrames, WindowSampler
from hjepa.envs.random_walk import RandomWalkPolicy, collect_random_walks
from hjepa.envs.two_rooms import TwoRooms


@pytest.fixture(scope="module")
def setup():
    env = TwoRooms()
    ds = Trajectories.from_arrays(collect_random_walks(env, RandomWalkPolicy(), 20, 30, seed=0))
    return env, ds


def test_shapes(setup):
    env, ds = setup
    w = WindowSampler(ds, RenderedFrames(env, ds, 2), 4, 3).sample(8, torch.Generator().manual_seed(0))
    assert w.obs.shape == (8, 5, 2, 32, 32) and w.obs.dtype == torch.float32
    assert w.actions.shape == (8, 4, 6) and w.positions.shape == (8, 5, 2)
    assert (w.start >= 0).all() and (w.start + 12 <= ds.steps).all()
    w1 = WindowSampler(ds, RenderedFrames(env, ds, 1), 5, 1).sample(3, torch.Generator().manual_seed(0))
    assert w1.obs.shape == (3, 6, 2, 64, 64) and w1.actions.shape == (3, 5, 2)


@pytest.mark.parametrize("pool", [1, 2, 4])
def test_pooling_equals_manual_average(setup, pool):
    env, ds = setup
    w = WindowSampler(ds, RenderedFrames(env, ds, pool), 3, 2).sample(4, torch.Generator().manual_seed(1))
    side = 64 // pool
    for b in range(4):
        layout = ds.layout().index(w.episode[b : b + 1])
        for t in range(4):
            full = env.render(w.positions[b, t : t + 1], layout)[0]  # (2, 64, 64)
            manual = full.reshape(2, side, pool, side, pool).mean(dim=(2, 4))
            assert torch.allclose(w.obs[b, t], manual, atol=1e-6)


def test_actions_and_positions_match_dataset(setup):
    env, ds = setup
    k, T = 3, 4
    w = WindowSampler(ds, RenderedFrames(env, ds, 1), T, k).sample(16, torch.Generator().manual_seed(2))
    for b in range(16):
        e, s = int(w.episode[b]), int(w.start[b])
        for t in range(T + 1):
            assert torch.equal(w.positions[b, t], ds.positions[e, s + k * t])
        for t in range(T):
            expected = torch.cat([ds.actions[e, s + k * t + i] for i in range(k)])
            assert torch.equal(w.actions[b, t], expected)
        # applying the k raw actions of each macro step takes positions t -> t+1
        layout = ds.layout().index(w.episode[b : b + 1])
        for t in range(T):
            pos = w.positions[b, t : t + 1]
            for i in range(k):
                pos = env.step(pos, w.actions[b, t, 2 * i : 2 * i + 2].view(1, 2), layout)
            assert torch.equal(pos[0], w.positions[b, t + 1])


def test_starts_cover_valid_range(setup):
    env, ds = setup
    sampler = WindowSampler(ds, RenderedFrames(env, ds, 2), 5, 2)
    w = sampler.sample(2000, torch.Generator().manual_seed(3))
    assert int(w.start.min()) == 0 and int(w.start.max()) == ds.steps - 10
    assert len(torch.unique(w.episode)) == len(ds)


def test_too_short_episodes(setup):
    env, ds = setup
    with pytest.raises(ValueError, match="too short"):
        WindowSampler(ds, RenderedFrames(env, ds), 11, 3)
    with pytest.raises(ValueError, match="pool"):
        WindowSampler(ds, RenderedFrames(env, ds, 3), 2, 1)
