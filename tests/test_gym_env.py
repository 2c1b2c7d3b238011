import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from hjepa.envs.gym_env import TwoRoomsGymEnv
from hjepa.envs.render_rgb import observations_to_rgb
from hjepa.envs.tasks import sample_two_rooms_tasks
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig


def _room(x, wall_x, wall_width=3):
    return int(x > wall_x + (wall_width - 1) / 2)


@pytest.mark.filterwarnings("ignore")
def test_check_env():
    check_env(TwoRoomsGymEnv(), skip_render_check=True)
    check_env(TwoRoomsGymEnv(render_mode="rgb_array"))


def test_start_and_goal_in_different_rooms():
    env = TwoRoomsGymEnv()
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        assert obs.shape == (2, 64, 64) and obs.dtype == np.float32
        assert info["goal_obs"].shape == (2, 64, 64)
        assert _room(info["pos"][0], info["wall_x"]) != _room(info["goal"][0], info["wall_x"])
    tasks = sample_two_rooms_tasks(TwoRooms(), 500, torch.Generator().manual_seed(0))
    layout, start, goal = tasks.layout, tasks.start, tasks.goal
    world = TwoRooms()
    assert (world.room_of(start, layout) != world.room_of(goal, layout)).all()
    assert world.is_free(start, layout).all() and world.is_free(goal, layout).all()
    assert 0.4 < world.room_of(start, layout).float().mean() < 0.6


def test_reaching_goal_terminates():
    cfg = TwoRoomsConfig()
    env = TwoRoomsGymEnv(cfg, render_mode="rgb_array")
    for seed in range(5):
        _, info = env.reset(seed=seed)
        wall_x, door_y = info["wall_x"], info["door_y"]
        side = 1 if info["goal"][0] > info["pos"][0] else -1
        centre = wall_x + 1.0
        waypoints = [np.array([centre - side * 4, door_y]), np.array([centre + side * 4, door_y]), info["goal"]]
        rewards, terminated, truncated, steps = [], False, False, 0
        while not (terminated or truncated):
            pos = info["pos"]
            target = waypoints[0]
            if len(waypoints) > 1 and np.linalg.norm(target - pos) < 0.5:
                waypoints.pop(0)
                target = waypoints[0]
            _, reward, terminated, truncated, info = env.step((target - pos).astype(np.float32))
            rewards.append(reward)
            steps += 1
        assert terminated and not truncated and info["success"]
        assert np.linalg.norm(info["pos"] - info["goal"]) <= cfg.success_radius
        assert rewards[-1] == pytest.approx(-info["distance"])
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8


def test_truncation_when_standing_still():
    env = TwoRoomsGymEnv(TwoRoomsConfig(max_episode_steps=7))
    env.reset(seed=0)
    for i in range(7):
        _, _, terminated, truncated, _ = env.step(np.zeros(2, np.float32))
        assert not terminated and truncated == (i == 6)


def test_rgb_colours():
    world = TwoRooms()
    tasks = sample_two_rooms_tasks(world, 3, torch.Generator().manual_seed(1))
    layout, start, goal = tasks.layout, tasks.start, tasks.goal
    obs = world.render(start, layout)
    frames = observations_to_rgb(obs, goal)
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8
    for i in range(3):
        ax, ay = start[i].round().long().tolist()
        gx, gy = goal[i].round().long().tolist()
        r, g, b = frames[i, ay, ax].astype(int)
        assert r > 150 and g < 100  # agent red
        r, g, b = frames[i, gy, gx].astype(int)
        assert g > 150 and r < 100  # goal green
        assert tuple(frames[i, 0, 0]) == (128, 128, 128)  # border wall grey
    pooled = torch.nn.functional.avg_pool2d(obs, 2)
    small = observations_to_rgb(pooled, goal, world_size=64, upscale=2)
    assert small.shape == (3, 64, 64, 3)
