"""External-environment pipeline: the pixel dataset format, windows, exploration, the DINO-WM
goal-reaching harness, and a tiny collect-train-plan run of `hjepa gym` per environment."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from hjepa.cli import main
from hjepa.control.latent import latent_dynamics
from hjepa.data.goal_tasks import sample_goal_tasks
from hjepa.data.trajectories import Trajectories
from hjepa.data.windows import StoredFrames, WindowSampler
from hjepa.envs.exploration_gym import CorrelatedNoisePolicy, PushSeekingPolicy

os.environ.setdefault("MUJOCO_GL", "egl")
NEEDS = {"pusht": "gym_pusht", "pointmaze": "gymnasium_robotics", "pendulum": "pygame",
         "reacher": "dm_control.suite", "cube": "ogbench"}


def toy_dataset(episodes=3, steps=12, channels=3, size=8, action_dim=2, seed=0) -> Trajectories:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (episodes, steps + 1, channels, size, size), dtype=np.uint8)
    actions = rng.uniform(-2, 2, (episodes, steps, action_dim)).astype(np.float32)
    states = rng.normal(size=(episodes, steps + 1, 4))
    return Trajectories.from_arrays({"frames": frames, "actions": actions, "states": states, "seeds": np.arange(episodes)},
                                    {"env": {"name": "toy"}})


def test_pixel_dataset_round_trip_and_errors(tmp_path):
    data = toy_dataset()
    path = data.save(tmp_path / "d", meta={"env": {"name": "toy"}, "seed": 3}, chunk_episodes=2)
    loaded = Trajectories.load(path)
    for name, value in data.to_arrays().items():
        assert torch.equal(loaded.to_arrays()[name], value) and loaded.to_arrays()[name].dtype == value.dtype
    meta = json.loads((path / "meta.json").read_text())
    assert meta["episodes"] == 3 and meta["steps"] == 12 and len(meta["chunks"]) == 2 and meta["seed"] == 3
    with pytest.raises(FileExistsError, match="overwrite"):
        data.save(path)
    bad = {k: v.numpy().copy() for k, v in data.to_arrays().items()}
    bad["states"][0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="states contains NaN"):
        Trajectories.from_arrays(bad)
    bad = dict(data.to_arrays(), actions=data.actions[:, :5])
    with pytest.raises(ValueError, match="actions shape"):
        Trajectories.from_arrays(bad)
    (path / "chunk_00001.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="corrupt"):
        Trajectories.load(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Trajectories.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="meta.json"):
        Trajectories.load(tmp_path / "empty")


def test_windows_follow_frameskip_stacking_and_scaling():
    data = toy_dataset(steps=12)
    k, window, stack = 3, 2, 2
    sampler = WindowSampler(data, StoredFrames(data, stack, 1), window, k, action_scale=np.array([2.0, 4.0]),
                            probe_targets=lambda s: s[..., :2])
    episode, start = torch.tensor([1, 2]), torch.tensor([0, 5])
    batch = sampler.gather(episode, start)
    assert batch.obs.shape == (2, window + 1, 3 * stack, 8, 8) and batch.actions.shape == (2, window, 2 * k)
    for b, (e, s) in enumerate(zip(episode.tolist(), start.tolist())):
        for i in range(window + 1):
            t = s + k * i
            expected = np.concatenate([data.frames[e, max(t - 1, 0)].numpy(), data.frames[e, t].numpy()]) / 255.0
            assert np.allclose(batch.obs[b, i].numpy(), expected)
            assert np.allclose(batch.positions[b, i].numpy(), data.states[e, t, :2].numpy())
        for i in range(window):
            raw = data.actions[e, s + k * i: s + k * (i + 1)].numpy() / np.array([2.0, 4.0])
            assert np.allclose(batch.actions[b, i].numpy(), raw.reshape(-1))  # time-ordered concatenation
    pooled = StoredFrames(data, 1, pool=2)
    expected = data.frames[0, 0].numpy().reshape(3, 4, 2, 4, 2).mean((2, 4))
    assert np.abs(pooled.frames[0, 0].numpy() - expected).max() <= 0.5  # rounded box average
    with pytest.raises(ValueError, match="too short"):
        WindowSampler(data, StoredFrames(data), 5, 3, np.ones(2), lambda s: s[..., :2])


def test_correlated_noise_has_the_stationary_std_it_claims():
    policy = CorrelatedNoisePolicy((-2.0,), (2.0,), rho=0.8, sigma=0.25)
    rng = np.random.default_rng(0)
    policy.reset(2000, rng)
    actions = np.stack([policy.act(np.zeros((2000, 1)), rng) for _ in range(30)])  # (T, N, 1)
    assert abs(actions.std() - 0.25 * 2.0) < 0.02  # sigma * half-range, clipping is rare here
    lag = np.corrcoef(actions[:-1].ravel(), actions[1:].ravel())[0, 1]
    assert abs(lag - 0.8) < 0.03
    assert actions.min() >= -2 and actions.max() <= 2
    with pytest.raises(ValueError, match="rho"):
        CorrelatedNoisePolicy((-1.0,), (1.0,), rho=1.0)


def test_push_seeking_walks_into_the_block():
    policy = PushSeekingPolicy(max_step=40.0, push_prob=1.0, noise=0.0)
    rng = np.random.default_rng(0)
    states = np.zeros((1, 10))
    states[0, :4] = [100.0, 100.0, 300.0, 100.0]
    policy.reset(1, rng)
    action = policy.act(states, rng)
    assert action[0, 0] == 40.0 and abs(action[0, 1]) < 40.0  # heads for the block (to the right)
    assert policy._waypoints[0, 0] > 300.0  # a waypoint beyond the block: the walk pushes it


def test_goal_tasks_and_held_action_dynamics():
    data = toy_dataset(episodes=4, steps=12)
    tasks = sample_goal_tasks(data, 6, goal_steps=5, frame_stack=2, seed=1)
    again = sample_goal_tasks(data, 6, goal_steps=5, frame_stack=2, seed=1)
    assert np.array_equal(tasks.start, again.start)  # a fixed evaluation seed repeats the tasks
    for i in range(6):
        e, s = int(tasks.source_episode[i]), int(tasks.source_step[i])
        assert torch.equal(tasks.goal_frames[i, -1], data.frames[e, s + 5])
        assert torch.equal(tasks.goal_frames[i, 0], data.frames[e, s + 4])
        assert torch.equal(tasks.start[i], data.states[e, s])
        assert torch.equal(tasks.reference_actions[i], data.actions[e, s:s + 5])

    class Recorder:
        def step(self, state, action):
            self.seen = action
            return state

    model = Recorder()
    dynamics = latent_dynamics(model, frameskip=3, action_dim=2, hold=True)
    dynamics(torch.zeros(1, 1, 4), torch.tensor([[[0.5, -1.0]]]))
    assert model.seen.tolist() == [[[0.5, -1.0, 0.5, -1.0, 0.5, -1.0]]]


TINY = ["--data.episodes", "4", "--data.steps", "30", "--data.heldout-episodes", "3", "--data.copies", "2",
        "--model.channels", "8", "16", "--model.state-dim", "16", "--model.predictor-hidden", "32",
        "--model.idm-hidden", "32", "--train.steps", "4", "--train.batch-size", "8", "--train.window", "2",
        "--train.log-every", "2", "--train.eval-every", "4", "--train.eval-windows", "16", "--train.warmup-steps", "1",
        "--plan.samples", "8", "--plan.elites", "2", "--plan.iterations", "1", "--plan.horizon", "2",
        "--eval.episodes", "3", "--eval.budget-steps", "10", "--eval.goal-steps", "10", "--eval.record", "2",
        "--no-progress"]


@pytest.mark.parametrize("env", ["pendulum", "pointmaze", "pusht", "reacher", "cube"])
def test_collect_train_plan_smoke(env, tmp_path, capsys):
    pytest.importorskip(NEEDS[env], reason=f"{NEEDS[env]} is not installed (pip install 'hjepa[envs]')")
    code = main(["gym", "--env", env, "--runs-root", str(tmp_path), "--name", "run", *TINY])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "success" in out
    run = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "checkpoints/world_model.pt", "training_curves.png",
                 "episodes.gif", "report.md", "summary.json", "data/train/meta.json", "data/heldout/meta.json"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env"] == env and summary["episodes"] == 3 and 0.0 <= summary["success_rate"] <= 1.0
    assert set(summary["cpu_seconds"]) == {"data", "train", "plan"}
    if env == "reacher":  # the suite's task, seen through two stacked frames (the arm's velocity)
        assert summary["env_id"] == "dm_control/reacher-easy"
        assert json.loads((run / "config.json").read_text())["model"]["frame_stack"] == 2
    replay = summary["controllers"]["held-out episode's own actions (open loop)"]
    # A deterministic simulator: the episode's own actions reach its goal. PushT's pymunk keeps
    # contact caches that set_state cannot restore, so a replay with contacts may drift a little.
    assert replay["success_rate"] >= (0.6 if env == "pusht" else 1.0)
    if env != "pendulum":
        return
    # Reuse the data and the model: planning only.
    code = main(["gym", "--env", env, "--runs-root", str(tmp_path), "--name", "again", *TINY,
                 "--dataset", str(run / "data"), "--checkpoint", str(run / "checkpoints/world_model.pt")])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["train_steps"] == 0


def test_gym_errors_are_one_line(tmp_path, capsys):
    code = main(["gym", "--env", "pendulum", "--runs-root", str(tmp_path), "--plan.elites", "400"])
    err = capsys.readouterr().err  # a config's own check, refused while parsing: one line too
    assert code == 2 and err.count("\n") == 1 and err.startswith("hjepa: error: plan.elites (400) cannot exceed")
    pytest.importorskip("pygame", reason="pygame is not installed (pip install 'hjepa[envs]')")
    code = main(["gym", "--env", "pendulum", "--runs-root", str(tmp_path), "--dataset", str(tmp_path / "nope")])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "gym-pendulum").exists()  # refused before a run directory was made


def test_external_envs_benchmark_tabulates_runs(tmp_path):
    """benchmarks/external_envs.py --reuse reads each run's summary.json into one row."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import external_envs

    summary = {
        "env": "pendulum", "env_id": "Pendulum-v1", "success_rate": 0.3, "final_success_rate": 0.1,
        "start_success_rate": 0.0, "episodes": 50, "train_steps": 7, "cpu_seconds": {"data": 60, "train": 120, "plan": 30},
        "world_model": {"probe_r2": 0.9},
        "controllers": {"random actions": {"success_rate": 0.05},
                        "held-out episode's own actions (open loop)": {"success_rate": 1.0}},
    }
    run = tmp_path / "runs" / "bench-gym-pendulum"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary))
    config = external_envs.Config(envs=("pendulum",), runs_root=tmp_path / "runs", reuse=True, out_dir=tmp_path)
    result = json.loads(external_envs.main(config).read_text())
    (row,) = result["rows"]
    assert (row["success"], row["random_success"], row["replay_success"]) == (0.3, 0.05, 1.0)
    assert row["total_cpu_min"] == pytest.approx(3.5) and row["published"].startswith("no published")
    assert result["columns"][0] == "run" and result["format"] == "hjepa.benchmark/1"


def test_minari_export_import_round_trip(tmp_path):
    pytest.importorskip("minari", reason="minari is not installed (pip install 'hjepa[minari]')")
    pytest.importorskip("h5py", reason="h5py is not installed (pip install 'hjepa[minari]')")
    from hjepa.data.minari_io import export_minari, import_minari

    data = toy_dataset(episodes=3, steps=10)
    data.meta.update({"env": {"action_low": [-2.0, -2.0], "action_high": [2.0, 2.0], "env_id": "toy"}})
    with pytest.warns(UserWarning):  # Minari warns that no environment spec is attached
        path = export_minari(data, "hjepa/toy-v0", tmp_path)
    assert path.is_dir()
    back = import_minari("hjepa/toy-v0", tmp_path)
    for name, value in data.to_arrays().items():
        assert torch.equal(back.to_arrays()[name], value), name
    with pytest.raises(FileExistsError):
        export_minari(data, "hjepa/toy-v0", tmp_path)
    with pytest.raises(ValueError, match="observations need keys 'rgb'"):
        import_minari("hjepa/toy-v0", tmp_path, image_key="rgb")
    with pytest.raises(FileNotFoundError):
        import_minari("hjepa/none-v0", tmp_path)


def test_proprioception_rides_along_as_constant_channels():
    from hjepa.data.windows import ProprioFrames

    data = toy_dataset(steps=12)
    proprio = lambda s: s[..., :3]  # noqa: E731  (three state entries the agent senses)
    sampler = WindowSampler(data, ProprioFrames(StoredFrames(data, 2, 1), data, proprio), 2, 3,
                            action_scale=np.array([2.0, 4.0]), probe_targets=lambda s: s[..., :2])
    batch = sampler.gather(torch.tensor([1]), torch.tensor([2]))
    assert batch.obs.shape == (1, 3, 2 * 3 + 3, 8, 8)
    for i, t in enumerate((2, 5, 8)):
        planes = batch.obs[0, i, 6:]
        assert torch.allclose(planes, data.states[1, t, :3].float()[:, None, None].expand(3, 8, 8))


def test_lewm_objective_is_prediction_and_sigreg_only():
    from hjepa.recipes.gym_config import LEWM_LOSS, GymJob, resolve
    from hjepa.world.build import WorldModelConfig, build_world_model
    from hjepa.world.objective import world_model_loss

    job = resolve(GymJob(env="pendulum", objective="lewm"))
    assert job.loss == LEWM_LOSS and job.loss.variance == job.loss.covariance == job.loss.inverse_dynamics == 0.0
    model, idm = build_world_model(WorldModelConfig(architecture="vector", obs_channels=3, obs_pool=2, channels=(8,),
                                                    state_dim=16, predictor_hidden=32, frameskip=1))
    obs, actions = torch.rand(4, 3, 3, 64, 64), torch.randn(4, 2, 2)
    total, terms = world_model_loss(model, idm, obs, actions, job.loss, generator=torch.Generator().manual_seed(0))
    assert terms["sigreg"] > 0
    torch.testing.assert_close(total.detach(), terms["prediction"] + 0.1 * terms["sigreg"])
