"""What is particular to the dm-control reacher adapter: its control rate and angle wrapping, the
fingertip kinematics, the target that set_state restores and actions never move, the fingertip
success test and the error that names the extra. The checks every adapter shares (specs, state
round trip, determinism, a collect-train-plan run) are in tests/test_env_adapters.py and
tests/test_gym_pipeline.py."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from hjepa.envs.adapters import MissingExtraError, env_functions
from hjepa.envs.adapters.reacher import SUCCESS_RADIUS, fingertip, reacher_distances, reacher_success

os.environ.setdefault("MUJOCO_GL", "egl")


def _make(size: int = 64):
    pytest.importorskip("mujoco", reason="mujoco is not installed (pip install 'hjepa[envs]')")
    pytest.importorskip("dm_control.suite", reason="dm_control is not installed (pip install 'hjepa[envs]')")
    return env_functions("reacher").make(size)


@pytest.fixture(scope="module")
def env():
    made = _make()
    yield made
    made.close()


def test_control_rate_and_wrapped_shoulder_angle(env):
    assert env.spec.control_hz == pytest.approx(50.0)
    env.reset(0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(rng.uniform(-1, 1, 2))
    assert -np.pi <= env.get_state()[0] < np.pi


def test_state_restores_the_target_and_the_kinematics_are_the_simulators(env):
    rng = np.random.default_rng(1)
    env.reset(3)
    for _ in range(15):
        env.step(rng.uniform(-1, 1, 2))
    state = env.get_state()
    env.reset(4)  # another arm pose and target
    assert not np.allclose(env.get_state()[4:], state[4:])
    env.set_state(state)
    assert np.allclose(env.get_state()[4:], state[4:])  # the target comes back
    # The kinematics of the success test are the simulator's.
    assert np.allclose(fingertip(state), env.physics.named.data.geom_xpos["finger", :2])
    for a in rng.uniform(-1, 1, (10, 2)):
        env.step(a)
    assert np.allclose(env.get_state()[4:], state[4:])  # the target does not move


def test_a_new_adapter_steps_from_the_state_it_was_given():
    """dm-control turns the first step of an episode never begun into a reset: set_state begins one."""
    fresh = _make(16)
    state = np.array([0.3, 1.2, 0.0, 0.0, 0.1, 0.1])
    fresh.set_state(state)
    fresh.step(np.array([1.0, 1.0]))
    after = fresh.get_state()
    fresh.close()
    assert np.abs(after[:2] - state[:2]).max() < 0.05 and after[2] > 0 and np.allclose(after[4:], state[4:])


def test_torque_turns_the_shoulder_that_way(env):
    env.set_state(np.array([0.0, 0.0, 0.0, 0.0, 0.1, 0.1]))
    for _ in range(10):
        env.step(np.array([1.0, 0.0]))
    state = env.get_state()
    assert state[0] > 0.05 and state[2] > 0  # counter-clockwise, seen from the camera
    assert np.allclose(fingertip(np.zeros(6)), [0.24, 0.0])  # the arm stretched along +x


def test_success_is_the_fingertip_within_the_suite_reward_radius():
    goal = np.array([[0.3, -0.8, 0.0, 0.0, 0.1, 0.1]])
    tip = fingertip(goal[0])
    # Other joint angles with the fingertip near or far from the goal's: the same tip with the
    # elbow the other way; the shoulder turned a little (arc length ~0.24 * angle).
    elbow_other_way = goal.copy()
    elbow_other_way[0, :2] = [goal[0, 0] + goal[0, 1], -goal[0, 1]]
    near = goal.copy(); near[0, 0] += 0.9 * SUCCESS_RADIUS / np.linalg.norm(tip)
    far = goal.copy(); far[0, 0] += 1.1 * SUCCESS_RADIUS / np.linalg.norm(tip)
    moving = goal.copy(); moving[0, 2:4] = [5.0, -5.0]; moving[0, 4:] = [-0.2, 0.0]  # velocity, target: ignored
    states = np.concatenate([elbow_other_way, near, far, moving])
    assert np.allclose(fingertip(elbow_other_way[0]), tip)
    assert reacher_success(states, np.repeat(goal, 4, 0)).tolist() == [True, True, False, True]
    distances = reacher_distances(states, np.repeat(goal, 4, 0))["fingertip"]
    assert distances.shape == (4,) and distances[2] > SUCCESS_RADIUS > distances[1] > 0


def test_missing_dm_control_names_the_extra(monkeypatch):
    pytest.importorskip("mujoco", reason="mujoco is not installed (pip install 'hjepa[envs]')")
    monkeypatch.setitem(sys.modules, "dm_control", None)  # None in sys.modules: the import fails
    monkeypatch.delitem(sys.modules, "dm_control.suite", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install 'hjepa\[envs\]'") as error:
        env_functions("reacher").make(64)
    assert "dm-control" in str(error.value)
