"""Kill -9 a training command in the middle, then ``--resume`` it: the metrics and the summary equal
an uninterrupted run's (everything but wall-clock times), for two-rooms (inside the first training
and inside practice), maze (inside level 2, and while or after its distance is fitted), agent train (inside the critic rounds) and gym."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TWO_ROOMS = ["two-rooms", "--layout", "fixed", "--data.episodes", "60", "--data.steps", "40", "--data.heldout-episodes", "20",
             "--train.steps", "60", "--train.batch-size", "16", "--train.log-every", "2", "--train.eval-every", "30",
             "--train.eval-windows", "16", "--train.checkpoint-every", "4", "--practice.rounds", "2", "--practice.tasks", "8",
             "--practice.steps", "20", "--eval.episodes", "3", "--eval.record", "1", "--plan.samples", "8", "--plan.elites", "2"]
MAZE = ["maze", "--data.episodes", "12", "--data.steps", "80", "--data.heldout-episodes", "6", "--train.steps", "20",
        "--train.batch-size", "16", "--train.eval-windows", "16", "--train.eval-every", "20", "--train.checkpoint-every", "5",
        "--level2-train.steps", "40", "--level2-train.batch-size", "16", "--level2-train.checkpoint-every", "4",
        "--level2-train.log-every", "2", "--eval.episodes", "2", "--eval.record", "1", "--plan.samples", "8",
        "--plan.landmarks", "8", "--plan.landmark-walks", "12", "--distance.train.steps", "1000", "--distance.train.batch", "32",
        "--distance.hidden", "16"]
VOLATILE = ("seconds", "_ms", "ms_per", "time")


def hjepa(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "hjepa", *args, "--threads", "1", "--no-progress", "--log", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def finish(args: list[str]) -> None:
    done = hjepa(args)
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, err.decode()[-2000:]


def kill_when(args: list[str], metrics: Path, ready) -> None:
    """Start the command and SIGKILL it as soon as ``ready(records)`` holds for its metrics log."""
    process = hjepa(args)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"finished before it could be killed: {process.stderr.read().decode()[-1000:]}")
        records = [json.loads(line) for line in metrics.read_text().splitlines() if line.endswith("}")] if metrics.exists() else []
        if ready(records):
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.05)
    process.kill()
    raise AssertionError("timed out waiting for the kill point")


def stable(value):
    """``value`` without wall-clock times."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if not any(s in k for s in VOLATILE)}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def compare(whole: Path, resumed: Path) -> None:
    """Equal metrics logs and summaries. Floats may differ in their last bits only: the float64 least
    squares of the position probe is not bit-reproducible between two processes (LAPACK's blocking
    depends on memory alignment), so two uninterrupted runs differ there as well (about 1e-13)."""
    logs = [[stable(json.loads(line)) for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (whole, resumed)]
    assert _same(logs[0], logs[1])
    summaries = [stable(json.loads((run / "summary.json").read_text())) for run in (whole, resumed)]
    assert _same(summaries[0], summaries[1])


def _same(a, b, where: str = "") -> bool:
    """``a == b``, floats to 1e-9 relative; raises naming the first difference."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        return all(_same(a[k], b[k], f"{where}/{k}") for k in a)
    if isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{where}: {len(a)} != {len(b)} entries"
        return all(_same(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b)))
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), f"{where}: {a} != {b}"
        return True
    assert a == b, f"{where}: {a!r} != {b!r}"
    return True


def steps_reached(key: str, least: int):
    return lambda records: any(r.get(key) is not None and r.get("step", -1) >= least for r in records)


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """An uninterrupted tiny two-rooms run."""
    root = tmp_path_factory.mktemp("whole")
    finish([*TWO_ROOMS, "--name", "whole", "--runs-root", str(root)])
    return root / "whole"


@pytest.mark.parametrize("where, ready", [
    ("training", steps_reached("loss/total", 30)),  # past the first training's checkpoints at 4, 8, ...
    ("practice", lambda records: any(r.get("practice/round") == 2 for r in records) and records[-1].get("step", 0) >= 70),
])
def test_two_rooms_resumes_exactly(tmp_path, whole, where, ready):
    root = ["--runs-root", str(tmp_path)]
    kill_when([*TWO_ROOMS, "--name", "cut", *root], tmp_path / "cut" / "metrics.jsonl", ready)
    assert not (tmp_path / "cut" / "summary.json").exists()
    changed = hjepa([*TWO_ROOMS, "--name", "cut", *root, "--resume", "--train.lr", "0.01"])
    assert changed.wait(timeout=120) == 2 and "these differ: train" in changed.stderr.read().decode()
    finish([*TWO_ROOMS, "--name", "cut", *root, "--resume"])
    compare(whole, tmp_path / "cut")


@pytest.mark.slow  # about 50 s: run with `pytest -m slow tests/test_resume.py`
@pytest.mark.parametrize("where, ready", [
    ("level 2", steps_reached("level2/total", 20)),
    ("the distance or after it", lambda records: any("distance/loss" in r for r in records)),
])
def test_maze_resumes_exactly(tmp_path, where, ready):
    root = ["--runs-root", str(tmp_path)]
    finish([*MAZE, "--name", "whole", *root])
    kill_when([*MAZE, "--name", "cut", *root], tmp_path / "cut" / "metrics.jsonl", ready)
    finish([*MAZE, "--name", "cut", *root, "--resume"])
    compare(tmp_path / "whole", tmp_path / "cut")


def test_resume_refuses_finished_and_missing_runs(whole):
    root = ["--runs-root", str(whole.parent)]
    again = hjepa([*TWO_ROOMS, "--name", "whole", *root, "--resume"])
    _, err = again.communicate(timeout=120)
    assert again.returncode == 2 and "has finished" in err.decode()
    missing = hjepa([*TWO_ROOMS, "--name", "never", *root, "--resume"])
    _, err = missing.communicate(timeout=120)
    assert missing.returncode == 2 and "there is no run 'never'" in err.decode()


AGENT = ["agent", "train", "--collect-episodes", "4", "--critic.steps", "30", "--critic.rounds", "3", "--critic.round-episodes", "2",
         "--critic.batch-size", "16", "--critic.members", "2", "--policy.rounds", "2", "--policy.round-episodes", "2",
         "--policy.fit-steps", "20", "--policy.batch-size", "16", "--episodes", "3", "--record", "1", "--samples", "8",
         "--horizon", "3", "--iterations", "1"]


@pytest.mark.slow  # about 60 s
def test_agent_train_resumes_exactly_inside_the_critic_rounds(tmp_path, whole):
    root = ["--runs-root", str(tmp_path)]
    checkpoint = ["--checkpoint", str(whole / "checkpoints" / "world_model.pt")]
    finish([*AGENT, *checkpoint, "--name", "whole", *root])
    kill_when([*AGENT, *checkpoint, "--name", "cut", *root], tmp_path / "cut" / "metrics.jsonl",
              lambda records: any(r.get("phase") == "critic_round" and r.get("critic_round") == 1 for r in records))
    finish([*AGENT, *checkpoint, "--name", "cut", *root, "--resume"])
    compare(tmp_path / "whole", tmp_path / "cut")


GYM = ["gym", "--env", "pendulum", "--data.episodes", "6", "--data.steps", "30", "--data.heldout-episodes", "3",
       "--data.copies", "3", "--model.channels", "8", "16", "--model.state-dim", "16", "--model.predictor-hidden", "32",
       "--model.idm-hidden", "32", "--train.steps", "24", "--train.batch-size", "8", "--train.window", "2",
       "--train.log-every", "2", "--train.eval-every", "12", "--train.eval-windows", "16", "--train.checkpoint-every", "4",
       "--plan.samples", "8", "--plan.elites", "2", "--plan.iterations", "1", "--plan.horizon", "2",
       "--eval.episodes", "2", "--eval.record", "1"]


@pytest.mark.slow  # about 40 s
def test_gym_resumes_exactly(tmp_path):
    pytest.importorskip("pygame", reason="the Pendulum adapter needs pygame (pip install 'hjepa[envs]')")
    root = ["--runs-root", str(tmp_path)]
    finish([*GYM, "--name", "whole", *root])
    kill_when([*GYM, "--name", "cut", *root], tmp_path / "cut" / "metrics.jsonl", steps_reached("loss/total", 10))
    finish([*GYM, "--name", "cut", *root, "--resume"])
    compare(tmp_path / "whole", tmp_path / "cut")
