"""Practice in ``hjepa gym``: the agent's own planned episodes, recorded as they happened, train the
world model further; a run resumes after its last finished round; bad settings are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hjepa.cli import main
from hjepa.data.trajectories import Trajectories
from test_gym_pipeline import TINY

PRACTICE = ["--practice.rounds", "2", "--practice.tasks", "3", "--practice.steps", "3", "--practice.samples", "8",
            "--practice.iterations", "1"]


def test_practice_records_what_happened_and_trains(tmp_path, capsys):
    pytest.importorskip("gym_pusht", reason="gym_pusht is not installed (pip install 'hjepa[envs]')")
    code = main(["gym", "--env", "pusht", "--runs-root", str(tmp_path), "--name", "run", *TINY, *PRACTICE])
    assert code == 0, capsys.readouterr().err
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    practice = summary["practice"]
    assert practice["rounds"] == 2 and practice["steps"] == 6 and practice["episodes"] == 6
    assert len(practice["plans_reaching_goal"]) == 2 and all(0.0 <= r <= 1.0 for r in practice["plans_reaching_goal"])
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) >= 4 + 3  # the rounds' training continues the curves after the 4 training steps
    assert "Practice after training: 2 rounds of 3 episodes" in (run / "report.md").read_text()
    expert = Trajectories.load(run / "data/expert-practice")
    assert expert.meta["policy"]["name"] != "practice"  # goals from the privileged expert, not from practice
    for r in range(2):
        episodes = Trajectories.load(run / f"data/practice-{r}")
        assert len(episodes) == 3 and episodes.steps == 10  # eval.budget-steps
        assert episodes.meta["policy"]["name"] == "practice"
        # Recorded as it happened: replaying the actions from the first state gives the same states
        # (PushT's contact caches may drift a little, as the replay baseline notes).
        from hjepa.envs.adapters.catalog import env_functions
        env = env_functions("pusht").make(64)
        try:
            states, actions = episodes.states.numpy(), episodes.actions.numpy()
            env.set_state(states[0, 0])
            for t in range(actions.shape[1]):
                env.step(actions[0, t])
            assert np.abs(env.get_state()[:2] - states[0, -1, :2]).max() < 5.0  # the agent's position, px
        finally:
            env.close()


def test_practice_resumes_after_its_last_round(tmp_path, capsys, monkeypatch):
    """A crash in round 2 keeps round 1: --resume plans round 2 only and finishes the run."""
    pytest.importorskip("gym_pusht", reason="gym_pusht is not installed (pip install 'hjepa[envs]')")
    from hjepa.recipes import gym_practice

    real, calls = gym_practice.practice_round_episodes, []

    def crash_in_round_two(*args):
        calls.append(args[-1])
        if args[-1] == 1 and len(calls) == 2:
            raise KeyboardInterrupt("stopped in round 2")
        return real(*args)

    monkeypatch.setattr(gym_practice, "practice_round_episodes", crash_in_round_two)
    args = ["gym", "--env", "pusht", "--runs-root", str(tmp_path), "--name", "run", *TINY, *PRACTICE]
    with pytest.raises(KeyboardInterrupt):
        main(args)
    run = tmp_path / "run"
    kept = (run / "data/practice-0/meta.json").stat().st_mtime_ns
    assert not (run / "summary.json").exists()
    assert main([*args, "--resume"]) == 0, capsys.readouterr().err
    assert calls == [0, 1, 1]  # round 1 was not planned again
    assert (run / "data/practice-0/meta.json").stat().st_mtime_ns == kept
    summary = json.loads((run / "summary.json").read_text())
    assert summary["practice"]["rounds"] == 2 and len(summary["practice"]["plans_reaching_goal"]) == 2


@pytest.mark.parametrize("flag, value, message", [
    ("--practice.rounds", "-1", "practice.rounds must be >= 0"),
    ("--practice.tasks", "0", "practice.tasks must be >= 1"),
    ("--practice.fraction", "0", "practice.fraction must be in"),
    ("--practice.lr", "nan", "practice.lr must be a positive"),
])
def test_bad_practice_settings_are_one_line(tmp_path, capsys, flag, value, message):
    code = main(["gym", "--env", "pendulum", "--runs-root", str(tmp_path), flag, value])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err


def test_practice_needs_an_expert(tmp_path, capsys):
    pytest.importorskip("pygame", reason="pygame is not installed (pip install 'hjepa[envs]')")
    code = main(["gym", "--env", "pendulum", "--runs-root", str(tmp_path), *TINY, "--practice.rounds", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "no expert" in err and not (tmp_path / "gym-pendulum").exists()


def test_peer_protocol_continues_a_recipe_and_counts_both_runs(tmp_path, capsys):
    """benchmarks/peer_protocol.py: a recipe in CONTINUES starts from its base recipe's run (refused, in one
    line, when that run is missing), adds both runs' CPU and evaluates the test split without practising."""
    pytest.importorskip("gym_pusht", reason="gym_pusht is not installed (pip install 'hjepa[envs]')")
    import shlex
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import peer_protocol

    extra = shlex.join([*TINY, *PRACTICE, "--eval.goal-source", "expert"])
    config = peer_protocol.Config(envs=("pusht",), recipes=("pldm-proprio-3x-practice",), extra_args=extra,
                                  runs_root=tmp_path, simulator=False, out_dir=tmp_path / "results")
    with pytest.raises(SystemExit, match="run it first"):
        peer_protocol.main(config)
    assert main(["gym", "--env", "pusht", "--runs-root", str(tmp_path), "--name", "peer-pusht-pldm-proprio-3x", *TINY,
                 "--eval.goal-source", "expert"]) == 0
    peer_protocol.main(config)
    rows = json.loads((tmp_path / "results" / "peer_protocol.json").read_text())["rows"]
    base = json.loads((tmp_path / "peer-pusht-pldm-proprio-3x" / "summary.json").read_text())["cpu_seconds"]
    practised = json.loads((tmp_path / "peer-pusht-pldm-proprio-3x-practice" / "summary.json").read_text())
    test = json.loads((tmp_path / "peer-pusht-pldm-proprio-3x-practice-test" / "summary.json").read_text())
    assert practised["practice"]["rounds"] == 2 and test["practice"]["rounds"] == 0
    expected = (base["data"] + base["train"] + sum(practised["cpu_seconds"].values())) / 60.0
    assert {r["split"] for r in rows} == {"validation", "test"}
    assert all(abs(r["cpu_minutes"] - expected) < 1e-9 for r in rows)
