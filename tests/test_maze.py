"""The multi-room maze: walls crossed only through passable doors, rendering matches the state,
layouts, room distances, tasks, the stochastic variant and the gymnasium wrapper."""

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from hjepa.envs.maze import Maze, MazeConfig, MazeLayout, door_rooms, snake_doors
from hjepa.envs.maze_gym import MazeGymEnv
from hjepa.envs.maze_tasks import reliable_layout, sample_maze_tasks


def _wander(env, layout, pos, steps, generator, scale=4.0):
    path = [pos]
    for _ in range(steps):
        action = (torch.rand(pos.shape, generator=generator) * 2 - 1) * scale
        pos = env.step(pos, action, layout)
        path.append(pos)
    return torch.stack(path)  # (steps+1, N, 2)


@pytest.mark.parametrize("config", [
    MazeConfig(),
    MazeConfig(layout="random", extra_doors=2),
    MazeConfig(unreliable=(6,), door_close_prob=0.5),
])
def test_rooms_change_only_through_passable_doors(config):
    env = Maze(config)
    g = torch.Generator().manual_seed(0)
    n = 128
    layout = env.sample_layout(n, g)
    pos = env.sample_in_room(torch.randint(config.num_rooms, (n,), generator=g), g)
    path = _wander(env, layout, pos, 600, g)
    assert env.is_free(path, layout).all()
    # Every change of room joins two rooms that a passable door connects (checked against the
    # door list, not against the dynamics' own test).
    rooms = env.room_of(path)  # (T+1, N)
    a, b = rooms[:-1], rooms[1:]
    changed = a != b
    assert int(changed.sum()) > 50  # the check below is not vacuous
    pairs = door_rooms(config.rooms)
    joined = torch.zeros(n, config.num_rooms, config.num_rooms, dtype=torch.bool)
    for d, (r0, r1) in enumerate(pairs.tolist()):
        joined[:, r0, r1] |= layout.passable[:, d]
        joined[:, r1, r0] |= layout.passable[:, d]
    copy = torch.arange(n).expand_as(a)
    assert joined[copy[changed], a[changed], b[changed]].all()
    # A step never moves further than max_step.
    assert ((path[1:] - path[:-1]).norm(dim=-1) <= config.max_step + 1e-4).all()


def test_wall_stops_the_agent_and_door_lets_it_through():
    env = Maze(MazeConfig())
    layout = env.sample_layout(1)
    # Room 0 (x 3..20) to room 1 through door 0 at y = 11.5; room 0 and room 3 share no door.
    at_door = torch.tensor([[15.0, 11.5]])
    below = torch.tensor([[15.0, 15.0]])  # 3.5 px off the door centre: outside the 6 px opening
    for _ in range(20):
        at_door = env.step(at_door, torch.tensor([[1.5, 0.0]]), layout)
        below = env.step(below, torch.tensor([[1.5, 0.0]]), layout)
    assert at_door[0, 0] > 40.0  # crossed into room 1 and beyond
    assert 19.5 < below[0, 0] <= 20.5 and below[0, 1] == 15.0  # pressed against the wall
    down = torch.tensor([[11.5, 15.0]])
    for _ in range(20):
        down = env.step(down, torch.tensor([[0.0, 1.5]]), layout)
    assert 19.5 < down[0, 1] <= 20.5  # no door between rooms 0 and 3 in the snake


def test_render_matches_state():
    env = Maze(MazeConfig(layout="random", extra_doors=1))
    g = torch.Generator().manual_seed(3)
    layout = env.sample_layout(6, g)
    pos = env.sample_in_room(torch.randint(9, (6,), generator=g), g)
    obs = env.render(pos, layout)
    assert obs.shape == (6, 2, 64, 64) and obs.dtype == torch.float32
    assert obs.min() >= 0 and obs.max() <= 1
    # The agent's brightest pixel is the position rounded to the pixel grid.
    flat = obs[:, 0].reshape(6, -1).argmax(1)
    assert torch.equal(torch.stack([flat % 64, flat // 64], -1), pos.round().long())
    # A pixel is wall exactly when its centre is not free space.
    xs, ys = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="xy")
    centres = torch.stack([xs, ys], -1).reshape(-1, 1, 2).expand(-1, 6, 2)
    free = env.is_free(centres, layout).t().reshape(6, 64, 64)
    assert torch.equal(obs[:, 1] > 0.5, ~free)
    # Openings: 12 doors, each drawn door leaves a door_size-wide gap, closed ones none.
    assert int(layout.drawn[0].sum()) == 9  # 8 tree doors + 1 extra
    opening = env.door_centre_xy(layout)  # (N, D, 2)
    centre_px = opening.floor().long()
    wall_at_door = obs[torch.arange(6).unsqueeze(1), 1, centre_px[..., 1], centre_px[..., 0]]
    assert torch.equal(wall_at_door < 0.5, layout.drawn)


def test_fixed_layout_is_the_snake_and_distances_are_right():
    env = Maze(MazeConfig())
    layout = env.sample_layout(2)
    assert torch.equal(layout.drawn[0], snake_doors(3)) and int(layout.drawn[0].sum()) == 8
    dist = env.room_distances(layout)[0]
    # Snake order 0 1 2 5 4 3 6 7 8: distance = difference of positions along the snake.
    order = [0, 1, 2, 5, 4, 3, 6, 7, 8]
    along = {room: k for k, room in enumerate(order)}
    expected = torch.tensor([[abs(along[a] - along[b]) for b in range(9)] for a in range(9)])
    assert torch.equal(dist, expected)


def test_random_layouts_are_spanning_trees():
    env = Maze(MazeConfig(layout="random"))
    layout = env.sample_layout(200, torch.Generator().manual_seed(1))
    assert (layout.drawn.sum(1) == 8).all()  # a tree on 9 rooms has 8 doors
    assert (env.room_distances(layout) >= 0).all()  # ... and connects them all
    assert len({tuple(row.tolist()) for row in layout.drawn}) > 50  # many different trees
    # Door centres move along their wall, keeping the opening 1 px away from the room's corners.
    offset = layout.centre - env.default_centres()
    assert offset.abs().max() <= (18 - 6) / 2 - 1 + 1e-5 and offset.abs().max() > 4.0


def test_stochastic_doors_look_open_but_may_be_closed():
    config = MazeConfig(unreliable=(6,), door_close_prob=0.5)
    env = Maze(config)
    layout = env.sample_layout(400, torch.Generator().manual_seed(2))
    assert layout.drawn[:, 6].all()
    closed = ~layout.passable[:, 6]
    assert 0.4 < float(closed.float().mean()) < 0.6
    # Same picture whether the shortcut is open or not ...
    pos = torch.tensor([[11.5, 15.0]]).expand(400, 2)
    obs = env.render(pos, layout)
    assert torch.equal(obs[closed][:1], obs[~closed][:1])
    # ... but a push down through it ends in room 3 only when it is passable.
    for _ in range(10):
        pos = env.step(pos, torch.tensor([[0.0, 1.5]]).expand(400, 2), layout)
    assert torch.equal(env.room_of(pos) == 3, ~closed)
    # The reliable graph (the distance of tasks) ignores the shortcut.
    assert (env.room_distances(reliable_layout(env, layout))[:, 0, 3] == 5).all()
    assert torch.equal(env.room_distances(layout)[:, 0, 3] == 1, ~closed)


def test_tasks_are_the_requested_rooms_apart():
    env = Maze(MazeConfig(layout="random"))
    g = torch.Generator().manual_seed(4)
    tasks = sample_maze_tasks(env, 300, g, min_rooms=3, max_rooms=5)
    assert ((tasks.rooms_apart >= 3) & (tasks.rooms_apart <= 5)).all()
    dist = env.room_distances(tasks.layout)
    rows = torch.arange(300)
    assert torch.equal(dist[rows, env.room_of(tasks.start), env.room_of(tasks.goal)], tasks.rooms_apart)
    assert env.is_free(tasks.start, tasks.layout).all() and env.is_free(tasks.goal, tasks.layout).all()
    with pytest.raises(ValueError, match="no pair of rooms"):
        sample_maze_tasks(Maze(MazeConfig()), 4, g, min_rooms=9, max_rooms=9)


def test_bad_configs_are_refused():
    for kwargs, match in (
        ({"rooms": 1}, "rooms"), ({"door_size": 30.0}, "door_size"), ({"layout": "spiral"}, "layout"),
        ({"unreliable": (40,)}, "out of range"), ({"door_close_prob": 1.5}, "door_close_prob"),
        ({"max_step": 0.0}, "positive"),
    ):
        with pytest.raises(ValueError, match=match):
            MazeConfig(**kwargs)
    with pytest.raises(ValueError, match="num_doors"):
        MazeLayout(torch.zeros(2, 12, dtype=torch.bool), torch.zeros(2, 11, dtype=torch.bool), torch.zeros(2, 12))


@pytest.mark.filterwarnings("ignore")
def test_gym_env_passes_the_checker_and_reaches_goals():
    check_env(MazeGymEnv(), skip_render_check=True)
    check_env(MazeGymEnv(render_mode="rgb_array"))
    env = MazeGymEnv(MazeConfig(max_episode_steps=50), min_rooms=3)
    obs, info = env.reset(seed=0)
    assert obs.shape == (2, 64, 64) and info["rooms_apart"] >= 3 and info["goal_obs"].shape == (2, 64, 64)
    # Replay a task one door away and walk straight through the door: terminates with success.
    obs, info = env.reset(seed=1, options={"start": (15.0, 11.5), "goal": (27.0, 11.5)})
    for _ in range(20):
        obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], np.float32))
        if terminated:
            break
    assert terminated and info["success"] and reward >= -3.0
    with pytest.raises(ValueError, match="free space"):
        env.reset(options={"start": (21.5, 15.0)})  # inside a wall
