import math
import signal

import pytest
import torch

from hjepa.envs.random_walk import NORMAL_ABOVE_KAPPA, RandomWalkPolicy, collect_random_walks, sample_von_mises
from hjepa.envs.two_rooms import Layout, TwoRooms, TwoRoomsConfig


def _bessel_ratio(order: int, kappa: float) -> float:
    """I_order(kappa) / I_0(kappa) for order 1 or 2 (I_2 = I_0 - 2 I_1 / kappa)."""
    k = torch.tensor(kappa, dtype=torch.float64)
    i0, i1 = torch.special.i0(k), torch.special.i1(k)
    return float(i1 / i0) if order == 1 else float((i0 - 2 * i1 / k) / i0)


def test_von_mises_moments():
    for kappa in (0.5, 5.0, 50.0):
        x = sample_von_mises(kappa, 20_000, torch.Generator().manual_seed(0)).double()
        assert abs(x.cos().mean().item() - _bessel_ratio(1, kappa)) < 0.02
        assert abs((2 * x).cos().mean().item() - _bessel_ratio(2, kappa)) < 0.02
        assert abs(x.sin().mean().item()) < 0.02
        assert x.abs().max() <= math.pi


def test_von_mises_deterministic():
    a = sample_von_mises(3.0, 1000, torch.Generator().manual_seed(7))
    b = sample_von_mises(3.0, 1000, torch.Generator().manual_seed(7))
    c = sample_von_mises(3.0, 1000, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_von_mises_draws_are_unchanged_up_to_the_threshold():
    """Fixed-seed draws recorded before the normal limit was added (kappa > NORMAL_ABOVE_KAPPA only)."""
    assert NORMAL_ABOVE_KAPPA == 1e6
    expected = {5.0: [-0.7342185378, 0.7633385658, 0.1285288334, -0.2164334804, -0.2770350873, -0.3663023114],
                1e6: [-0.000624238746, -0.000829392055, 0.000288154144, -0.000486463483]}
    for kappa, values in expected.items():
        drawn = sample_von_mises(kappa, len(values), torch.Generator().manual_seed(0))
        assert torch.allclose(drawn.double(), torch.tensor(values, dtype=torch.float64), rtol=0, atol=1e-7), kappa


@pytest.mark.parametrize("kappa", [1e6 * (1 + 1e-9), 1e8, 1e16, 1e30, 1e300])
def test_von_mises_huge_kappa_terminates_with_the_normal_limit(kappa):
    def too_slow(signum, frame):
        raise TimeoutError(f"sample_von_mises({kappa}) did not return")
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(10)
    try:
        x = sample_von_mises(kappa, 20_000, torch.Generator().manual_seed(0)).double()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert x.shape == (20_000,) and torch.isfinite(x).all()
    if kappa > 1e60:  # the spread 1/sqrt(kappa) is below float32's smallest number: straight walks
        assert x.abs().max() < 1e-30
        return
    assert abs(x.std().item() * math.sqrt(kappa) - 1.0) < 0.02 and abs(x.mean().item()) * math.sqrt(kappa) < 0.05


def test_von_mises_spread_is_continuous_at_the_threshold():
    below = sample_von_mises(NORMAL_ABOVE_KAPPA, 50_000, torch.Generator().manual_seed(1)).double()
    above = sample_von_mises(NORMAL_ABOVE_KAPPA * (1 + 1e-9), 50_000, torch.Generator().manual_seed(1)).double()
    assert abs(below.std().item() / above.std().item() - 1.0) < 0.02


def test_collect_deterministic_and_seed_dependent():
    env = TwoRooms(TwoRoomsConfig())
    a = collect_random_walks(env, RandomWalkPolicy(), 64, 50, seed=1)
    b = collect_random_walks(env, RandomWalkPolicy(), 64, 50, seed=1)
    c = collect_random_walks(env, RandomWalkPolicy(), 64, 50, seed=2)
    for key in a:
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["positions"], c["positions"])
    assert a["positions"].shape == (64, 51, 2) and a["positions"].dtype == torch.float32
    assert a["actions"].shape == (64, 50, 2) and a["actions"].dtype == torch.float32
    assert a["wall_x"].shape == (64,) and a["wall_x"].dtype == torch.int64
    assert a["door_y"].shape == (64,) and a["door_y"].dtype == torch.float32


def test_positions_follow_env_dynamics():
    env = TwoRooms(TwoRoomsConfig())
    d = collect_random_walks(env, RandomWalkPolicy(), 32, 40, seed=3)
    layout = Layout(d["wall_x"], d["door_y"])
    for t in range(40):
        assert torch.equal(env.step(d["positions"][:, t], d["actions"][:, t], layout), d["positions"][:, t + 1])
    assert env.is_free(d["positions"].transpose(0, 1), layout).all()


def test_step_length_statistics():
    env = TwoRooms(TwoRoomsConfig())
    policy = RandomWalkPolicy(kappa=5.0, step_mean=1.0, step_std=0.4, max_step=2.45)
    d = collect_random_walks(env, policy, 2000, 50, seed=4)
    lengths = d["actions"].norm(dim=-1).flatten().double()
    ref = (1.0 + 0.4 * torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).clamp(0, 2.45)
    assert abs(lengths.mean() - ref.mean()) < 0.02
    assert abs(lengths.std() - ref.std()) < 0.02
    assert lengths.min() >= 0 and lengths.max() <= 2.45 + 1e-5


def test_heading_change_is_von_mises_when_free():
    env = TwoRooms(TwoRoomsConfig())
    kappa = 5.0
    d = collect_random_walks(env, RandomWalkPolicy(kappa=kappa), 500, 40, seed=5)
    a = d["actions"]
    moved = (d["positions"][:, 1:] - d["positions"][:, :-1]).norm(dim=-1)
    free = (moved - a.norm(dim=-1)).abs() < 1e-4  # step t was not blocked
    angle = torch.atan2(a[..., 1], a[..., 0])
    turn = angle[:, 1:] - angle[:, :-1]
    use = free[:, :-1] & (a.norm(dim=-1)[:, :-1] > 1e-3) & (a.norm(dim=-1)[:, 1:] > 1e-3)
    assert abs(turn[use].double().cos().mean().item() - _bessel_ratio(1, kappa)) < 0.02


def test_visits_both_rooms_and_resample_on_block():
    env = TwoRooms(TwoRoomsConfig())
    d = collect_random_walks(env, RandomWalkPolicy(), 400, 100, seed=6)
    layout = Layout(d["wall_x"], d["door_y"])
    rooms = torch.stack([env.room_of(d["positions"][:, t], layout) for t in range(101)], dim=1)
    assert (rooms[:, 0] == 0).any() and (rooms[:, 0] == 1).any()  # starts in both rooms
    crossed = (rooms.min(dim=1).values == 0) & (rooms.max(dim=1).values == 1)
    assert crossed.float().mean() > 0.02
    # Without re-drawing after a wall hit the walker keeps pushing: more blocked steps, and the
    # redraw probability interpolates between the two.
    def blocked_fraction(resample: float) -> float:
        dd = collect_random_walks(env, RandomWalkPolicy(kappa=20.0, resample_on_block=resample), 400, 100, seed=6)
        moved = (dd["positions"][:, 1:] - dd["positions"][:, :-1]).norm(dim=-1)
        return float((moved < dd["actions"].norm(dim=-1) - 1e-4).float().mean())

    always, sometimes, never = blocked_fraction(1.0), blocked_fraction(0.3), blocked_fraction(0.0)
    assert always < sometimes < never and always < 0.5 * never
    with pytest.raises(ValueError, match="probability"):
        RandomWalkPolicy(resample_on_block=1.5)


def test_rejects_policy_longer_than_env_step():
    env = TwoRooms(TwoRoomsConfig(max_step=1.0))
    try:
        collect_random_walks(env, RandomWalkPolicy(max_step=2.0), 4, 4, seed=0)
    except ValueError as err:
        assert "max_step" in str(err)
    else:
        raise AssertionError("expected ValueError")
