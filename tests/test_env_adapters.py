"""Pixel adapters of PushT, PointMaze, Pendulum, dm-control reacher and OGBench cube: specs, true state, success tests, batches,
and the error that names the missing extra."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hjepa.envs.adapters import MissingExtraError, PixelEnvBatch, env_functions
from hjepa.envs.adapters.extras import require
from hjepa.envs.adapters.pendulum import pendulum_success
from hjepa.envs.adapters.pointmaze import pointmaze_success
from hjepa.envs.adapters.pusht import pusht_success

os.environ.setdefault("MUJOCO_GL", "egl")

NEEDS = {"pusht": "gym_pusht", "pointmaze": "gymnasium_robotics", "pendulum": "pygame",
         "reacher": "dm_control.suite", "cube": "ogbench"}
SPECS = {  # name -> (action_dim, state_dim, action bound)
    "pusht": (2, 10, 40.0),
    "pointmaze": (2, 4, 1.0),
    "pendulum": (1, 2, 2.0),
    "reacher": (2, 6, 1.0),
    "cube": (5, 54, 1.0),
}


def _make(name: str, size: int = 64):
    if name in ("pointmaze", "reacher", "cube"):
        pytest.importorskip("mujoco", reason="mujoco is not installed (pip install 'hjepa[envs]')")
    pytest.importorskip(NEEDS[name], reason=f"{NEEDS[name]} is not installed (pip install 'hjepa[envs]')")
    return env_functions(name).make(size)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_specs_and_observations(name):
    env = _make(name)
    action_dim, state_dim, bound = SPECS[name]
    spec = env.spec
    assert spec.name == name and spec.obs_shape == (3, 64, 64)
    assert spec.action_dim == action_dim and spec.state_dim == state_dim == len(spec.state_names)
    assert np.allclose(spec.action_low, -bound) and np.allclose(spec.action_high, bound)
    obs = env.reset(0)
    assert obs.shape == (3, 64, 64) and obs.dtype == np.uint8
    assert obs.std() > 0  # something is drawn
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs = env.step(rng.uniform(spec.action_low, spec.action_high))
        assert obs.shape == (3, 64, 64) and obs.dtype == np.uint8
    state = env.get_state()
    assert state.shape == (state_dim,) and np.isfinite(state).all()
    with pytest.raises(ValueError, match="action must have shape"):
        env.step(np.zeros(action_dim + 1))
    with pytest.raises(ValueError, match="state must"):
        env.set_state(np.zeros(state_dim + 1))
    with pytest.raises(ValueError, match="finite"):
        env.set_state(np.full(state_dim, np.nan))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_state_round_trip_and_determinism(name):
    env = _make(name)
    rng = np.random.default_rng(1)
    env.reset(3)
    for _ in range(8):
        env.step(rng.uniform(env.spec.action_low, env.spec.action_high))
    state, frame = env.get_state(), env.render_obs()
    other = env.reset(4)
    assert np.abs(other.astype(int) - frame).max() > 0  # another episode looks different
    restored = env.set_state(state)
    assert np.allclose(env.get_state(), state)
    # the frame shows exactly the state
    assert np.array_equal(restored, frame) and np.array_equal(env.render_obs(), frame)
    actions = rng.uniform(env.spec.action_low, env.spec.action_high, (10, env.spec.action_dim))
    finals = []
    for _ in range(2):
        env.set_state(state)
        for a in actions:
            env.step(a)
        finals.append(env.get_state())
    assert np.allclose(finals[0], finals[1])
    assert not np.allclose(finals[0], state)  # the actions did something


def test_pusht_relative_action_moves_the_agent_that_way():
    env = _make("pusht")
    state = np.array([100.0, 100.0, 350.0, 350.0, 0.0, 0, 0, 0, 0, 0])
    env.set_state(state)
    for _ in range(3):
        env.step(np.array([30.0, 0.0]))
    moved = env.get_state()[:2] - state[:2]
    assert moved[0] > 25 and abs(moved[1]) < 5  # the PD controller lags behind its target
    assert np.allclose(env.get_state()[2:5], state[2:5])  # the far-away block did not move


def test_pointmaze_force_pushes_the_ball_and_goal_marker_is_hidden():
    env = _make("pointmaze")
    env.set_state(np.array([-1.0, 1.0, 0.0, 0.0]))  # top-left corridor cell of the U
    for _ in range(20):
        env.step(np.array([1.0, 0.0]))
    x, y = env.get_state()[:2]
    assert x > -0.9 and abs(y - 1.0) < 0.05
    frame = env.render_obs().astype(int)  # (3, H, W)
    red = (frame[0] > 150) & (frame[1] < 80) & (frame[2] < 80)
    assert not red.any()  # the upstream red target sphere is invisible


def test_pendulum_frames_show_the_angle():
    env = _make("pendulum")
    up = env.set_state(np.array([0.0, 0.0])).astype(int)
    down = env.set_state(np.array([np.pi - 1e-3, 0.0])).astype(int)
    def ink_rows(frame):  # rows where the rod is drawn (not white)
        return np.nonzero((frame.sum(0) < 600).any(1))[0]
    assert ink_rows(up).mean() < 32 < ink_rows(down).mean()  # upright rod in the top half


def test_success_tests_match_dino_wm_thresholds():
    goal = np.array([[200.0, 200.0, 300.0, 300.0, 0.1, 0, 0, 0, 0, 0]])
    near = goal.copy(); near[0, 0] += 19.0; near[0, 4] += np.radians(19)
    far = goal.copy(); far[0, 0] += 21.0
    twisted = goal.copy(); twisted[0, 4] += np.radians(21)
    wrapped = goal.copy(); wrapped[0, 4] += 2 * np.pi - np.radians(5)  # 5 degrees the other way
    got = pusht_success(np.concatenate([near, far, twisted, wrapped]), np.repeat(goal, 4, 0))
    assert got.tolist() == [True, False, False, True]
    maze_goal = np.array([[0.0, 0.0, 1.0, 1.0]])
    assert pointmaze_success(np.array([[0.3, 0.39, 0, 0], [0.3, 0.41, 0, 0]]), maze_goal).tolist() == [True, False]
    pend_goal = np.array([[-np.pi + 0.1, 1.0]] * 3)
    pend = pendulum_success(np.array([[np.pi - 0.1, 1.9], [0.5, 1.0], [np.pi - 0.1, 2.1]]), pend_goal)
    assert pend.tolist() == [True, False, False]  # wrapped angle; angle too far; too fast


def test_batch_stacks_frames_oldest_first():
    pytest.importorskip("pygame", reason="pygame is not installed (pip install 'hjepa[envs]')")
    make = lambda: env_functions("pendulum").make(32)  # noqa: E731
    batch = PixelEnvBatch(make, copies=3, frame_stack=2)
    assert batch.obs_shape == (6, 32, 32)
    obs = batch.reset([0, 1, 2])
    assert obs.shape == (3, 6, 32, 32) and np.array_equal(obs[:, :3], obs[:, 3:])
    nxt = batch.step(np.full((3, 1), 2.0))
    assert np.array_equal(nxt[:, :3], obs[:, 3:])  # the old newest frame is now the oldest
    states = batch.states()
    assert states.shape == (3, 2)
    frames = np.stack([nxt[:, :3], nxt[:, 3:]], axis=1)  # (N, k, C, H, W)
    again = batch.set_states(states, frames)
    assert np.array_equal(again, nxt)
    with pytest.raises(ValueError, match="actions must be"):
        batch.step(np.zeros((2, 1)))
    with pytest.raises(ValueError, match="frames must have shape"):
        batch.set_states(states, frames[:, :1])


def test_missing_extra_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gym_pusht", None)  # None in sys.modules: the import fails
    monkeypatch.delitem(sys.modules, "gym_pusht.envs", raising=False)
    monkeypatch.delitem(sys.modules, "gym_pusht.envs.pusht", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install 'hjepa\[envs\]'") as error:
        env_functions("pusht").make(64)
    assert "gym-pusht" in str(error.value) and isinstance(error.value, ImportError)
    with pytest.raises(MissingExtraError, match="no_such_module"):
        require("no_such_module_hjepa", "no-such-package", "a test")
    with pytest.raises(ValueError, match="unknown environment"):
        env_functions("cartpole")


def test_core_imports_and_commands_work_without_the_extras(tmp_path):
    """`import hjepa`, the CLI and the adapters package import in a process where every optional
    package is missing; only building an adapter fails, with the extra named."""
    script = textwrap.dedent(
        """
        import sys
        for name in ("gym_pusht", "gymnasium_robotics", "mujoco", "pygame", "pymunk", "minari", "h5py"):
            sys.modules[name] = None
        import hjepa, hjepa.cli, hjepa.envs.adapters, hjepa.recipes.gym, hjepa.data.minari_io
        from hjepa.envs.adapters import MissingExtraError, env_functions
        for name in ("pusht", "pointmaze", "pendulum", "cube"):
            try:
                env_functions(name).make(64)
            except MissingExtraError as error:
                assert "hjepa[envs]" in str(error), error
            else:
                raise SystemExit(f"{name} was built without its package")
        code = hjepa.cli.main(["gym", "--env", "pusht", "--runs-root", sys.argv[1], "--name", "x"])
        assert code == 2, code
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert "hjepa[envs]" in result.stderr  # the CLI's one-line error names the extra


def test_pointmaze_free_states_lie_in_corridors_at_rest():
    env = _make("pointmaze")
    states = env.sample_free_states(200, np.random.default_rng(0))
    assert states.shape == (200, 4) and np.all(states[:, 2:] == 0)
    maze = env.env.maze
    for x, y in states[:, :2]:
        i = int(np.floor(maze.y_map_center - y))  # row of the cell holding (x, y)
        j = int(np.floor(x + maze.x_map_center))
        assert maze.maze_map[i][j] != 1, (x, y)
    cells = {(int(np.floor(2.5 - y)), int(np.floor(x + 2.5))) for x, y in states[:, :2]}
    assert len(cells) == 7  # all seven corridor cells of the U are used
