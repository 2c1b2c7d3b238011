"""What is particular to the OGBench cube adapter: the readouts are the simulator's, the scene's goal
marker is hidden, the actions move the gripper the way they say, the success test is OGBench's
radius on the cube alone, and the privileged expert picks the cube up and puts it down. The checks
every adapter shares (specs, state round trip, determinism, a collect-train-plan run) are in
tests/test_env_adapters.py and tests/test_gym_pipeline.py."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hjepa.envs.adapters import env_functions
from hjepa.envs.adapters.cube import (
    CUBE,
    OPENING,
    PHYSICS,
    PINCH,
    STATE_NAMES,
    SUCCESS_RADIUS,
    CubePixels,
    cube_distances,
    cube_proprio,
    cube_success,
    cube_yaw,
)
from hjepa.envs.experts import CubeExpert
from hjepa.errors import InputError

os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(scope="module")
def env():
    pytest.importorskip("mujoco", reason="mujoco is not installed (pip install 'hjepa[envs]')")
    pytest.importorskip("ogbench", reason="ogbench is not installed (pip install 'hjepa[envs]')")
    made = env_functions("cube").make(64)
    yield made
    made.close()


def test_readouts_are_the_simulators_and_the_goal_marker_is_hidden(env):
    env.reset(5)
    state = env.get_state()
    assert env.spec.control_hz == pytest.approx(20.0) and len(STATE_NAMES) == 54
    cube_qpos = env.data.joint("object_joint_0").qpos
    assert np.allclose(state[CUBE], cube_qpos[:3]) and np.allclose(state[3:7], cube_qpos[3:])
    assert np.allclose(state[PINCH], env.data.site_xpos[env.env._pinch_site_id])
    assert np.allclose(state[PHYSICS : PHYSICS + 21], env.data.qpos)
    frame = env.render_obs()
    env.data.mocap_pos[0] = state[CUBE] + np.array([0.0, 0.1, 0.0])  # OGBench's target cube, moved into view
    assert np.array_equal(env.render_obs(), frame)  # not drawn: the goal is an observation


def test_actions_move_the_gripper_the_way_they_say(env):
    env.reset(6)
    start = env.get_state()
    for _ in range(4):
        env.step(np.array([1.0, 0.0, 0.0, 0.0, 0.0]))  # +x at full speed: 5 cm per step
    moved = env.get_state()[PINCH] - start[PINCH]
    assert 0.08 < moved[0] < 0.22 and abs(moved[1]) < 0.03
    for _ in range(6):
        env.step(np.array([0.0, 0.0, 0.0, 0.0, 1.0]))  # close the gripper
    assert env.get_state()[OPENING] > start[OPENING] + 0.3


def test_copies_share_one_scene_and_keep_their_own_state():
    pytest.importorskip("ogbench", reason="ogbench is not installed (pip install 'hjepa[envs]')")
    make = env_functions("cube").make
    a, b = make(64), make(64)
    try:
        assert a.scene is b.scene and a.data is not b.data  # one model and renderer, two physics
        frame_b = b.reset(2)
        state_b = b.get_state()
        a.reset(1)
        for _ in range(5):
            a.step(np.array([1.0, 0.5, -0.5, 0.2, 1.0]))
        assert np.array_equal(b.get_state(), state_b) and np.array_equal(b.render_obs(), frame_b)
        alone = CubePixels(64)  # the same steps in a scene of its own
        alone.reset(1)
        for _ in range(5):
            alone.step(np.array([1.0, 0.5, -0.5, 0.2, 1.0]))
        assert np.allclose(alone.get_state(), a.get_state()) and np.array_equal(alone.render_obs(), a.render_obs())
        alone.close()
    finally:
        a.close()
        b.close()


def test_closing_one_adapter_leaves_the_others_frames_intact():
    """MuJoCo's Renderer.close frees GL objects in the current context, another renderer's if that one
    drew last: the adapter closes its renderer in its own context."""
    pytest.importorskip("ogbench", reason="ogbench is not installed (pip install 'hjepa[envs]')")
    kept, closed = CubePixels(64), CubePixels(64)
    try:
        kept.reset(0)
        before = kept.render_obs()
        closed.reset(1)
        closed.close()
        assert np.array_equal(kept.render_obs(), before)
        kept.step(np.array([0.5, 0.0, 0.0, 0.0, 0.0]))
        fresh = CubePixels(64)
        assert np.array_equal(fresh.set_state(kept.get_state()), kept.render_obs())
        fresh.close()
    finally:
        kept.close()


def test_batches_one_after_another_draw_every_frame():
    """As the gym job does: an adapter for the spec, closed, then batch after batch (creating and destroying
    EGL contexts in turn froze every other batch's frames at their first)."""
    pytest.importorskip("ogbench", reason="ogbench is not installed (pip install 'hjepa[envs]')")
    from hjepa.envs.adapters import PixelEnvBatch
    from hjepa.envs.exploration_gym import CorrelatedNoisePolicy, collect_pixel_episodes

    make = env_functions("cube").make
    make(64).close()
    reference = CubePixels(64)
    try:
        for seed in range(3):
            batch = PixelEnvBatch(lambda: make(64), 2)
            try:
                arrays = collect_pixel_episodes(batch, CorrelatedNoisePolicy((-1.0,) * 5, (1.0,) * 5), 2, 8, seed=seed)
            finally:
                batch.close()
            frames, states = arrays["frames"], arrays["states"]
            assert not np.array_equal(frames[0, 2], frames[0, 8])  # the arm moved on screen
            assert np.array_equal(reference.set_state(states[0, 8]), frames[0, 8])  # and it is the state's frame
    finally:
        reference.close()


def test_success_is_the_cube_within_ogbenchs_radius_and_ignores_the_arm():
    goal = np.zeros((1, 54))
    goal[0, :3] = (0.4, 0.1, 0.02)
    states = np.repeat(goal, 3, 0)
    states[1, 0] += SUCCESS_RADIUS * 0.9
    states[2, 1] += SUCCESS_RADIUS * 1.1
    states[:, PINCH] = (0.5, -0.2, 0.3)  # the arm elsewhere does not count
    assert cube_success(states, np.repeat(goal, 3, 0)).tolist() == [True, True, False]
    assert np.allclose(cube_distances(states, np.repeat(goal, 3, 0))["cube"], [0.0, 0.036, 0.044])
    turned = np.zeros((1, 54))
    turned[0, 3], turned[0, 6] = np.cos(0.3), np.sin(0.3)  # a quarter of 0.6 rad about z
    assert cube_yaw(turned)[0] == pytest.approx(0.6)
    assert cube_proprio(states).shape == (3, 7)


def test_expert_picks_the_cube_up_and_puts_it_down(env):
    expert, rng, lifted, moved = CubeExpert(), np.random.default_rng(0), [], []
    for episode in range(3):
        env.reset(10 + episode)
        expert.reset(1, rng)
        path = [env.get_state()]
        for _ in range(100):
            env.step(expert.act(path[-1][None], rng)[0])
            path.append(env.get_state())
        cubes = np.array(path)[:, CUBE]
        lifted.append(cubes[:, 2].max())
        moved.append(np.linalg.norm(cubes[25:, :2] - cubes[:-25, :2], axis=1))
    assert expert.placed >= 1  # measured: 1-2 per 100-step episode
    assert min(lifted) > 0.06  # off the table (its centre rests at 0.02)
    assert np.median(np.concatenate(moved)) > SUCCESS_RADIUS  # most 25-step windows move the cube


def test_expert_is_labelled_and_checks_its_arguments():
    assert "true simulator state" in CubeExpert().describe()["privileged"]
    with pytest.raises(InputError):
        CubeExpert(carry_height=0.0)
