"""Smoke test of benchmarks/hierarchy_suite.py at tiny sizes (results to a temporary directory)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_maze_cli import TINY  # noqa: E402


def test_hierarchy_suite_deterministic_and_ablation(tmp_path):
    import hierarchy_suite

    extra = " ".join(a for a in TINY if a != "--no-progress")
    config = hierarchy_suite.Config(groups=("1-2", "3-4"), episodes=1, extra_args=extra, runs_root=tmp_path / "runs",
                                    out_dir=tmp_path)
    result = json.loads(hierarchy_suite.main(config).read_text())
    assert result["format"] == "hjepa.benchmark/1"
    assert [(r["rooms_apart"], r["controller"]) for r in result["rows"]] == [
        ("1-2", "hierarchical"), ("1-2", "flat"), ("3-4", "hierarchical"), ("3-4", "flat")]
    assert all(r["planning_seconds"] > 0 for r in result["rows"])
    checkpoint = tmp_path / "runs" / "bench-hierarchy-deterministic" / "checkpoints" / "hierarchy.pt"
    ablation = hierarchy_suite.Config(groups=("1-2",), episodes=1, extra_args=extra, runs_root=tmp_path / "runs",
                                      out_dir=tmp_path, level2="unrolled-level1", checkpoint=checkpoint)
    path = hierarchy_suite.main(ablation)
    assert path.name == "hierarchy_suite_deterministic_unrolled_level1.json"
    assert len(json.loads(path.read_text())["rows"]) == 2
    landmarks = hierarchy_suite.Config(groups=("1-2",), episodes=1, runs_root=tmp_path / "runs", out_dir=tmp_path,
                                       level2="landmarks", checkpoint=checkpoint,
                                       extra_args=extra + " --plan.landmarks 12 --plan.landmark-min-count 1")
    path = hierarchy_suite.main(landmarks)
    result = json.loads(path.read_text())
    assert path.name == "hierarchy_suite_deterministic_landmarks.json" and "Landmark graph: 12 landmarks" in result["notes"]
    assert [r["controller"] for r in result["rows"]] == ["hierarchical (landmarks)", "flat"]
    # The tiny run fitted a learned distance (the default level-2 search): level 2 scored by it, beside both flats.
    scored = hierarchy_suite.Config(groups=("1-2",), episodes=1, extra_args=extra, runs_root=tmp_path / "runs",
                                    out_dir=tmp_path, level2="distance", checkpoint=checkpoint)
    result = json.loads(hierarchy_suite.main(scored).read_text())
    assert [r["controller"] for r in result["rows"]] == ["hierarchical (distance)", "flat", "flat (distance)"]
    assert all("time_ratio_flat_over_hier" in r for r in result["rows"] if r["controller"] != "flat")


def test_hierarchy_suite_simulator_level2_follows_the_maze(tmp_path):
    """The oracle level 2 moves a held direction exactly as the maze does, walls included."""
    import torch

    from hierarchy_suite import SimulatorLevel2
    from hjepa.envs.maze import Maze

    env = Maze()
    layout = env.sample_layout(1)

    class Probe:  # s1 = (x, y) itself
        def predict(self, s):
            return s

    class Low:
        state_dim, action_dim = 2, 8  # frameskip 4

    oracle = SimulatorLevel2(env, Low(), Probe(), k=2, layout=layout)
    start = env.room_centre(torch.tensor([0, 4]))  # (2, 2)
    heading = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    moved = oracle.step(oracle.abstract(start), heading)
    expected = start.clone()
    for _ in range(8):
        expected = env.step(expected, heading, layout.index(torch.zeros(2, dtype=torch.long)))
    assert torch.allclose(moved, expected)
    assert not torch.allclose(moved, start)
    assert oracle.held_direction_actions((1.0,)).shape == (8, 2)


def test_stochastic_suite_and_test_split_with_online_z(tmp_path):
    """The stochastic suite trains a tiny latent-z maze; hierarchy_test.py measures it on its own split and
    keeps the rows of envs it did not measure."""
    import hierarchy_suite
    import hierarchy_test

    extra = " ".join(a for a in TINY if a != "--no-progress")
    suite = hierarchy_suite.Config(suite="stochastic", episodes=1, extra_args=extra, runs_root=tmp_path / "runs",
                                   out_dir=tmp_path, z_modes=("mean", "inferred"))
    rows = json.loads(hierarchy_suite.main(suite).read_text())["rows"]
    assert [(r["z_mode"], r["controller"]) for r in rows] == [("mean", "hierarchical (z mean)"),
                                                             ("inferred", "hierarchical (z inferred)")]
    earlier = {"env": "maze", "group": "7-8 rooms", "controller": "landmarks", "split": "test", "episodes": 48,
               "success_rate": 0.5, "stderr": 0.07, "planning_seconds_per_episode": 0.3}
    (tmp_path / "hierarchy_test.json").write_text(json.dumps({"date": "then", "command": "before", "rows": [earlier]}))
    checkpoint = tmp_path / "runs" / "bench-hierarchy-stochastic" / "checkpoints" / "hierarchy.pt"
    config = hierarchy_test.Config(envs=("maze-stochastic",), stochastic_checkpoint=checkpoint, stochastic_episodes=2,
                                   z_modes=("mean", "inferred"), runs_root=tmp_path / "runs", out_dir=tmp_path)
    result = json.loads(hierarchy_test.main(config).read_text())
    assert result["rows"][0] == earlier and "kept from the run of then" in result["notes"]
    new = result["rows"][1:]
    assert [(r["env"], r["group"], r["controller"], r["episodes"]) for r in new] == [
        ("maze-stochastic", "shortcut", "hierarchical (z mean)", 2), ("maze-stochastic", "shortcut", "hierarchical (z inferred)", 2)]
    assert all(0 <= r["success_rate"] <= 1 and r["stderr"] >= 0 for r in new)
