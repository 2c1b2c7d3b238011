import math

import pytest
import torch

from hjepa.envs.two_rooms import Layout, TwoRooms, TwoRoomsConfig


def _random_walk(env, layout, pos, steps, generator, scale=6.0):
    """Positions (steps+1, N, 2) under large uniformly random displacements."""
    path = [pos]
    for _ in range(steps):
        action = (torch.rand(pos.shape, generator=generator) * 2 - 1) * scale
        pos = env.step(pos, action, layout)
        path.append(pos)
    return torch.stack(path)


def test_wall_crossed_only_through_door():
    cfg = TwoRoomsConfig()
    env = TwoRooms(cfg)
    g = torch.Generator().manual_seed(0)
    n = 256
    layout = env.sample_layout(n, g)
    pos = env.sample_in_room(layout, torch.randint(2, (n,), generator=g), g)
    path = _random_walk(env, layout, pos, 400, g)  # (S+1, N, 2)
    assert env.is_free(path, layout).all()
    p0, p1 = path[:-1], path[1:]
    # Every crossing of either face of the wall slab happens at a y within the door; the
    # tolerance is one collision sub-step (a sub-step may cut a door corner by at most that much).
    tol = cfg.max_step / cfg.substeps
    half = cfg.door_size / 2
    crossings = 0
    for face in (layout.wall_x.float() - 0.5, layout.wall_x.float() - 0.5 + cfg.wall_width):
        crosses = (p0[..., 0] - face) * (p1[..., 0] - face) < 0
        t = (face - p0[..., 0]) / (p1[..., 0] - p0[..., 0])
        y = p0[..., 1] + t * (p1[..., 1] - p0[..., 1])
        outside = (y < layout.door_y - half - tol) | (y > layout.door_y + half + tol)
        assert not (crosses & outside).any()
        crossings += int(crosses.sum())
    rooms = torch.stack([env.room_of(p, layout) for p in path])
    assert crossings > 0 and (rooms[1:] != rooms[:-1]).any()  # the check above is not vacuous


def test_wall_blocks_outside_door():
    env = TwoRooms(TwoRoomsConfig())
    layout = Layout(torch.tensor([30]), torch.tensor([15.0]))
    pos = torch.tensor([[25.0, 50.0]])  # left room, far below the door
    for _ in range(20):
        pos = env.step(pos, torch.tensor([[10.0, 0.0]]), layout)
    assert pos[0, 0] < 29.5 and pos[0, 0] > 28.5  # pushed against the wall, not through it
    assert pos[0, 1] == 50.0


def test_action_norm_clipping():
    cfg = TwoRoomsConfig()
    env = TwoRooms(cfg)
    actions = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1)) * 3
    clipped = env.clip_action(actions)
    norms = actions.norm(dim=-1)
    assert torch.all(clipped.norm(dim=-1) <= cfg.max_step + 1e-5)
    small = norms <= cfg.max_step
    assert torch.allclose(clipped[small], actions[small])
    big = ~small
    assert big.any()
    cos = (clipped[big] * actions[big]).sum(-1) / (clipped[big].norm(dim=-1) * norms[big])
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)
    assert torch.allclose(clipped[big].norm(dim=-1), torch.full_like(cos, cfg.max_step), atol=1e-5)
    # a free move goes exactly as far as the clipped action
    layout = Layout(torch.tensor([30]), torch.tensor([32.0]))
    moved = env.step(torch.tensor([[10.0, 30.0]]), torch.tensor([[0.0, 9.0]]), layout)
    assert torch.allclose(moved, torch.tensor([[10.0, 30.0 + cfg.max_step]]))


def test_render_matches_state():
    cfg = TwoRoomsConfig()
    env = TwoRooms(cfg)
    g = torch.Generator().manual_seed(2)
    layout = env.sample_layout(64, g)
    pos = env.sample_in_room(layout, torch.randint(2, (64,), generator=g), g)
    obs = env.render(pos, layout)
    assert obs.shape == (64, 2, cfg.size, cfg.size) and obs.dtype == torch.float32
    flat = obs[:, 0].flatten(1).argmax(dim=1)
    row, col = flat // cfg.size, flat % cfg.size
    assert torch.equal(col, pos[:, 0].round().long())
    assert torch.equal(row, pos[:, 1].round().long())
    rows = torch.arange(cfg.size).float()
    inner = (rows >= cfg.border) & (rows <= cfg.size - 1 - cfg.border)
    for i in range(64):
        walls = obs[i, 1]
        wx, dy = int(layout.wall_x[i]), float(layout.door_y[i])
        in_door = (rows - dy).abs() <= cfg.door_size / 2
        for c in range(wx, wx + cfg.wall_width):
            assert torch.equal(walls[:, c].bool(), ~in_door | ~inner)
        for c in (wx - 1, wx + cfg.wall_width):  # columns beside the wall are open inside
            assert torch.equal(walls[:, c].bool(), ~inner)


def test_fixed_layout_identical():
    env = TwoRooms(TwoRoomsConfig(fixed_layout=True))
    layout = env.sample_layout(50, torch.Generator().manual_seed(3))
    assert (layout.wall_x == layout.wall_x[0]).all() and (layout.door_y == layout.door_y[0]).all()
    assert int(layout.wall_x[0]) == env.config.fixed_wall_x
    assert math.isclose(float(layout.door_y[0]), env.config.fixed_door_y)


def test_batched_step_equals_per_copy_step():
    env = TwoRooms(TwoRoomsConfig())
    g = torch.Generator().manual_seed(4)
    n = 32
    layout = env.sample_layout(n, g)
    pos = env.sample_in_room(layout, torch.randint(2, (n,), generator=g), g)
    for _ in range(30):
        action = torch.randn(n, 2, generator=g) * 3
        batched = env.step(pos, action, layout)
        single = torch.cat([env.step(pos[i : i + 1], action[i : i + 1], layout.index(slice(i, i + 1))) for i in range(n)])
        assert torch.equal(batched, single)
        pos = batched


@pytest.mark.parametrize("pool", [1, 2, 4, 8])
def test_pooled_dot_equals_pooled_image(pool):
    env = TwoRooms()
    pos = torch.tensor([[3.2, 60.1], [31.5, 31.5], [17.9, 44.4]])
    pooled = torch.nn.functional.avg_pool2d(env.agent_image(pos).unsqueeze(1), pool).squeeze(1)
    torch.testing.assert_close(env.agent_image_pooled(pos, pool), pooled, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="divide"):
        env.agent_image_pooled(pos, 3)
