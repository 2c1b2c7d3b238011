"""The privileged experts (hjepa.envs.experts) and the gym job's expert-trajectory protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.test_gym_pipeline import TINY

from hjepa.cli import main
from hjepa.envs.experts import PushTExpert, ReacherExpert
from hjepa.errors import InputError


def _episodes(env: str, policy, episodes: int, steps: int) -> dict:
    from hjepa.envs.adapters.batch import PixelEnvBatch
    from hjepa.envs.adapters.catalog import env_functions
    from hjepa.envs.exploration_gym import collect_pixel_episodes

    functions = env_functions(env)
    batch = PixelEnvBatch(lambda: functions.make(32), episodes)
    try:
        return collect_pixel_episodes(batch, policy, episodes, steps, seed=0)
    finally:
        batch.close()


def test_reacher_expert_reaches_its_target_poses():
    pytest.importorskip("dm_control.suite", reason="dm_control is not installed (pip install 'hjepa[envs]')")
    expert = ReacherExpert()
    _episodes("reacher", expert, 4, 100)
    assert expert.reached >= 4  # PD control reaches target poses (measured: 6 in 4 x 100 steps)
    weak = ReacherExpert(kp=0.01, kd=0.0)
    _episodes("reacher", weak, 4, 100)
    assert weak.reached < expert.reached


def test_pusht_expert_moves_the_block():
    pytest.importorskip("gym_pusht", reason="gym-pusht is not installed (pip install 'hjepa[envs]')")
    states = _episodes("pusht", PushTExpert(), 4, 75)["states"]
    moved = np.linalg.norm(states[:, 25:, 2:4] - states[:, :-25, 2:4], axis=-1)  # 25-step block displacement
    assert np.median(moved) > 10.0


def test_experts_are_labelled_privileged_and_check_their_arguments():
    assert "true simulator state" in ReacherExpert().describe()["privileged"]
    assert PushTExpert().describe()["name"].startswith("pusht")
    with pytest.raises(InputError):
        ReacherExpert(kp=0.0)
    with pytest.raises(InputError):
        PushTExpert(standoff=-1.0)


def test_gym_expert_protocol_splits_validation_and_test(tmp_path, capsys):
    pytest.importorskip("dm_control.suite", reason="dm_control is not installed (pip install 'hjepa[envs]')")
    args = ["gym", "--env", "reacher", "--runs-root", str(tmp_path), *TINY, "--eval.goal-source", "expert",
            "--data.expert-episodes", "2"]
    assert main([*args, "--name", "val"]) == 0
    assert main([*args, "--name", "test", "--eval.split", "test", "--dataset", str(tmp_path / "val" / "data")]) == 0
    val, test = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("val", "test"))
    assert (val["split"], test["split"]) == ("validation", "test")
    assert val["dataset_episodes"] == 4 + 2 and val["goal_source"] == "expert"
    assert (tmp_path / "val" / "data" / "expert-validation").exists() and (tmp_path / "test" / "data" / "expert-test").exists()
    assert "privileged" in (tmp_path / "val" / "report.md").read_text()


def test_expert_goals_need_an_expert(tmp_path, capsys):
    pytest.importorskip("pygame", reason="pygame is not installed (pip install 'hjepa[envs]')")
    code = main(["gym", "--env", "pendulum", "--runs-root", str(tmp_path), *TINY, "--eval.goal-source", "expert"])
    assert code == 2
    assert "no expert controller" in capsys.readouterr().err
    assert not (tmp_path / "gym-pendulum").exists()
