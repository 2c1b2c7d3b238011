"""The dm-control reacher adapter: specs, true state round trip, the fingertip success test, the
error that names the extra, and a tiny collect-train-plan run of `hjepa gym --env reacher`."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from hjepa.cli import main
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


def test_specs_and_observations(env):
    spec = env.spec
    assert spec.name == "reacher" and spec.obs_shape == (3, 64, 64) and spec.control_hz == pytest.approx(50.0)
    assert spec.action_dim == 2 and np.allclose(spec.action_low, -1) and np.allclose(spec.action_high, 1)
    assert spec.state_dim == 6 == len(spec.state_names)
    obs = env.reset(0)
    assert obs.shape == (3, 64, 64) and obs.dtype == np.uint8 and obs.std() > 0
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs = env.step(rng.uniform(-1, 1, 2))
        assert obs.shape == (3, 64, 64) and obs.dtype == np.uint8
    state = env.get_state()
    assert state.shape == (6,) and np.isfinite(state).all() and -np.pi <= state[0] < np.pi
    with pytest.raises(ValueError, match="action must have shape"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="state must have shape"):
        env.set_state(np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        env.set_state(np.full(6, np.nan))


def test_state_round_trip_renders_and_replays_the_same(env):
    rng = np.random.default_rng(1)
    env.reset(3)
    for _ in range(15):
        env.step(rng.uniform(-1, 1, 2))
    state, frame = env.get_state(), env.render_obs()
    other = env.reset(4)  # another arm pose and target
    assert np.abs(other.astype(int) - frame).max() > 0 and not np.allclose(env.get_state()[4:], state[4:])
    restored = env.set_state(state)
    assert np.allclose(env.get_state(), state)  # angles, velocities and the target come back
    assert np.array_equal(restored, frame) and np.array_equal(env.render_obs(), frame)
    # The kinematics of the success test are the simulator's.
    assert np.allclose(fingertip(state), env.physics.named.data.geom_xpos["finger", :2])
    actions = rng.uniform(-1, 1, (10, 2))
    finals = []
    for _ in range(2):
        env.set_state(state)
        for a in actions:
            env.step(a)
        finals.append(env.get_state())
    assert np.allclose(finals[0], finals[1])  # the velocities are restored too: the same future
    assert not np.allclose(finals[0][:4], state[:4])
    assert np.allclose(finals[0][4:], state[4:])  # the target does not move


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


TINY = ["--data.episodes", "4", "--data.steps", "30", "--data.heldout-episodes", "3", "--data.copies", "2",
        "--model.channels", "8", "16", "--model.state-dim", "16", "--model.predictor-hidden", "32",
        "--model.idm-hidden", "32", "--train.steps", "4", "--train.batch-size", "8", "--train.window", "2",
        "--train.log-every", "2", "--train.eval-every", "4", "--train.eval-windows", "16", "--train.warmup-steps", "1",
        "--plan.samples", "8", "--plan.elites", "2", "--plan.iterations", "1", "--plan.horizon", "2",
        "--eval.episodes", "3", "--eval.budget-steps", "10", "--eval.goal-steps", "10", "--eval.record", "2",
        "--no-progress"]


def test_collect_train_plan_smoke(tmp_path, capsys):
    _make(16).close()  # skips without the packages
    code = main(["gym", "--env", "reacher", "--runs-root", str(tmp_path), "--name", "run", *TINY])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "success" in out
    run = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "checkpoints/world_model.pt", "training_curves.png",
                 "episodes.gif", "report.md", "summary.json", "data/train/meta.json", "data/heldout/meta.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env"] == "reacher" and summary["env_id"] == "dm_control/reacher-easy"
    assert summary["episodes"] == 3 and 0.0 <= summary["success_rate"] <= 1.0
    assert set(summary["cpu_seconds"]) == {"data", "train", "plan"}
    assert json.loads((run / "config.json").read_text())["model"]["frame_stack"] == 2
    # Deterministic MuJoCo and a full set_state: the episode's own actions reach its goal.
    assert summary["controllers"]["held-out episode's own actions (open loop)"]["success_rate"] == 1.0
