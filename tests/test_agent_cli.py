"""`hjepa agent train` and `hjepa agent run` end to end on a tiny world model, repeatability, and
clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hjepa.agent.checkpoints import load_critic, load_policy
from hjepa.cli import main
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.nn.linear_probe import fit_linear_probe
from hjepa.runs.metrics import read_metrics
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.checkpoint import checkpoint_state

TINY_TRAIN = ["--collect-episodes", "4", "--critic.steps", "5", "--critic.rounds", "1", "--critic.round-episodes", "2",
              "--critic.batch-size", "16", "--policy.rounds", "1", "--policy.round-episodes", "2",
              "--policy.fit-steps", "5", "--policy.batch-size", "16", "--episodes", "3", "--record", "2",
              "--samples", "8", "--horizon", "3", "--iterations", "1", "--no-progress", "--threads", "1"]
TINY_RUN = ["--episodes", "3", "--record", "2", "--samples", "8", "--horizon", "3", "--iterations", "1",
            "--no-progress", "--threads", "1"]


def cli(argv: list, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A tiny, untrained world model saved as `hjepa two-rooms` does (fixed layout, 12-step episodes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        config = WorldModelConfig(architecture="vector", obs_pool=2, channels=(4, 8), state_dim=8,
                              predictor_hidden=16, predictor_layers=2, idm_hidden=16)
        model, idm = build_world_model(config)
        env = TwoRooms(TwoRoomsConfig(fixed_layout=True))
        pos = torch.rand(64, 2, generator=torch.Generator().manual_seed(0)) * 50 + 5
        with torch.no_grad():
            probe = fit_linear_probe(model.encode(env.render(pos, env.sample_layout(64))), pos)
        run = RunDir.create(tmp_path_factory.mktemp("wm"), "tiny-wm")
        run.write_config({"layout": "fixed", "env": {"max_episode_steps": 12}})
        return run.save_checkpoint("world_model", checkpoint_state("two-rooms", model, config, idm, probe))
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(world, tmp_path_factory) -> Path:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("agent")
        assert main(["agent", "train", "--checkpoint", str(world), "--name", "train", "--runs-root", str(root),
                     "--task", "avoid", *TINY_TRAIN]) == 0
    finally:
        torch.set_num_threads(before)
    return root / "train"


def test_train_writes_every_file(trained):
    for name in ("config.json", "metrics.jsonl", "summary.json", "report.md", "paths.png", "episodes.gif",
                 "training_curves.png", "checkpoints/critic.pt", "checkpoints/policy.pt", "checkpoints/memory.pt"):
        assert (trained / name).is_file() and (trained / name).stat().st_size > 0, name
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["task"] == "avoid" and summary["mode1"]["episodes"] == 3
    assert summary["memory_episodes"] == 4 + 2 + 2 and summary["labels"] > 0
    assert len(summary["critic_rounds"]) == 2 and len(summary["dagger_rounds"]) == 2
    phases = {r.get("phase") for r in read_metrics(trained / "metrics.jsonl")}
    assert phases == {"collect", "critic", "critic_round", "dagger"}
    config = json.loads((trained / "config.json").read_text())
    assert config["resolved"]["weights"] == {"goal": 1.0, "action": 0.0, "zone": 20.0}
    memory = torch.load(trained / "checkpoints/memory.pt", weights_only=True)
    assert memory["term_names"] == ["goal", "action", "zone"]
    policy = load_policy(trained / "checkpoints/policy.pt", config["resolved"]["weights"])
    assert policy.stochastic  # the default: a Gaussian over the teacher's labels, saved as such
    mean, std = policy.distribution(torch.zeros(3, policy.state_dim), torch.zeros(3, policy.goal_dim))
    assert std is not None and (std > 0).all() and (std <= policy.max_action).all()


@pytest.mark.parametrize("task, mode, extra", [
    ("avoid", "mode1", []),
    ("avoid", "mode1", ["--policy-mean"]),
    ("avoid", "mode2-warm", ["--use-critic"]),
    ("avoid", "mode2", ["--planner", "gradient"]),
    ("other-room", "mode2", []),
    ("other-room", "mode2", ["--room-term", "probe"]),
    ("reach", "mode2", ["--planner", "cem"]),
    ("reach", "mode2", ["--unstick", "False"]),
])
def test_run_each_mode_and_task(world, trained, tmp_path, capsys, task, mode, extra):
    learned = ["--learned", trained] if task == "avoid" else []
    code, out, err = cli(["agent", "run", "--checkpoint", world, "--task", task, "--mode", mode, "--name", "run",
                          "--runs-root", tmp_path, *learned, *extra, *TINY_RUN], capsys)
    assert code == 0, err
    assert task in out and "success" in out
    run = tmp_path / "run"
    for name in ("config.json", "metrics.jsonl", "summary.json", "report.md", "paths.png", "episodes.gif",
                 "checkpoints/memory.pt"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["mode"] == mode and summary["episodes"] == 3 and 0 <= summary["success_rate"] <= 1
    assert summary["random_actions_per_episode"] >= 0
    if "--unstick" in extra or mode == "mode1":
        assert summary["random_actions_per_episode"] == 0
    records = read_metrics(run / "metrics.jsonl")
    assert records and all("term_action" in r for r in records)
    assert ("term_zone" in records[0]) == (task == "avoid")


def test_same_seed_repeats_the_run(world, trained, tmp_path):
    argv = ["agent", "run", "--checkpoint", str(world), "--task", "avoid", "--mode", "mode2-warm", "--learned",
            str(trained), "--runs-root", str(tmp_path), *TINY_RUN]
    assert main([*argv, "--name", "a"]) == 0 and main([*argv, "--name", "b"]) == 0
    a, b = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("a", "b"))
    assert {k: v for k, v in a.items() if "ms" not in k and "seconds" not in k} == \
        {k: v for k, v in b.items() if "ms" not in k and "seconds" not in k}
    assert torch.equal(torch.load(tmp_path / "a/checkpoints/memory.pt", weights_only=True)["states"],
                       torch.load(tmp_path / "b/checkpoints/memory.pt", weights_only=True)["states"])


@pytest.mark.parametrize("extra, needle", [
    (["--mode", "mode1"], "--mode mode1 needs --learned"),
    (["--use-critic"], "--use-critic needs --learned"),
    (["--task", "reach", "--use-critic", "--learned", "TRAINED"], "trained for cost weights"),
    (["--zone", "30", "10", "20", "20"], "x_min < x_max"),
    (["--zone", "70", "70", "80", "80"], "outside the arena"),
    (["--horizon", "0"], "horizon must be an int >= 1"),
    (["--mode", "mode1", "--use-critic", "--learned", "TRAINED", "--task", "avoid"], "needs --mode mode2"),
    (["--learned", "NOWHERE", "--mode", "mode1"], "not found"),
])
def test_bad_requests_give_clear_errors(world, trained, tmp_path, capsys, extra, needle):
    extra = [str(trained) if e == "TRAINED" else str(tmp_path / "nowhere") if e == "NOWHERE" else e for e in extra]
    code, _, err = cli(["agent", "run", "--checkpoint", world, "--runs-root", tmp_path, *TINY_RUN, *extra], capsys)
    assert code == 2, err
    assert "Traceback" not in err and needle in err, err
    assert not (tmp_path / "agent").exists()  # refused before a run directory is made


def test_unknown_task_and_missing_layout(world, tmp_path, capsys):
    code, _, err = cli(["agent", "run", "--checkpoint", world, "--task", "fly"], capsys)
    assert code != 0 and "fly" in err and "Traceback" not in err
    lone = tmp_path / "lone.pt"
    lone.write_bytes(Path(world).read_bytes())  # no config.json beside it
    code, _, err = cli(["agent", "run", "--checkpoint", lone, "--runs-root", tmp_path, *TINY_RUN], capsys)
    assert code == 2 and "--layout" in err
    code, _, err = cli(["agent", "run", "--checkpoint", lone, "--layout", "fixed", "--runs-root", tmp_path,
                        "--name", "ok", *TINY_RUN], capsys)
    assert code == 0, err


def test_help_lists_the_agent_options(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli(["agent", "train", "--help"], capsys)
    assert code == 0
    for option in ("--checkpoint", "--task", "--critic.method", "--critic.hindsight", "--policy.rounds",
                   "--collect-episodes", "--zone", "--horizon"):
        assert option in out, option
    code, out, _ = cli(["agent", "run", "--help"], capsys)
    assert code == 0 and all(o in out for o in ("--mode", "--learned", "--use-critic", "--eval-seed"))


def test_train_and_plan_with_a_critic_ensemble(world, tmp_path, capsys, monkeypatch):
    from hjepa.agent.critic_ensemble import CriticEnsemble
    code, _, err = cli(["agent", "train", "--checkpoint", world, "--name", "ens", "--runs-root", tmp_path,
                        "--task", "reach", *TINY_TRAIN, "--critic.members", "2", "--critic.bootstrap"], capsys)
    assert code == 0, err
    config = json.loads((tmp_path / "ens" / "config.json").read_text())
    critic = load_critic(tmp_path / "ens" / "checkpoints" / "critic.pt", config["resolved"]["weights"],
                         config["resolved"]["task"]["discount"])
    assert isinstance(critic, CriticEnsemble) and len(critic.members) == 2
    members = {r.get("critic_member") for r in read_metrics(tmp_path / "ens" / "metrics.jsonl") if r.get("phase") == "critic"}
    assert members == {0, 1}
    code, out, err = cli(["agent", "run", "--checkpoint", world, "--task", "reach", "--mode", "mode2", "--use-critic",
                          "--learned", tmp_path / "ens", "--name", "run", "--runs-root", tmp_path, *TINY_RUN], capsys)
    assert code == 0 and "success" in out, err
    monkeypatch.setenv("COLUMNS", "200")  # refused while parsing now: keep tyro's message on one line
    code, _, err = cli(["agent", "train", "--checkpoint", world, "--name", "bad", "--runs-root", tmp_path,
                        *TINY_TRAIN, "--critic.members", "0"], capsys)
    assert code != 0 and "critic.members must be >= 1" in err
    assert not (tmp_path / "bad").exists()
    assert not (tmp_path / "bad").exists()  # refused before anything is written


def test_critic_that_diverges_is_refused_not_saved(world, tmp_path, capsys):
    """A learning rate far too large (1e6 at the default 2000 steps; 1e30 here, to be quick): the
    critic's loss or weights go non-finite; training stops with one line naming it and exit 2, and
    no critic checkpoint is written for `agent run --use-critic`."""
    code, _, err = cli(["agent", "train", "--checkpoint", world, "--name", "nan", "--runs-root", tmp_path,
                        "--task", "avoid", *TINY_TRAIN, "--critic.lr", "1e30", "--critic.steps", "40"], capsys)
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1 and "critic" in err and "finite" in err, err
    assert not (tmp_path / "nan/checkpoints/critic.pt").exists()
