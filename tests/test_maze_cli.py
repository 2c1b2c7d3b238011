"""`hjepa maze` end to end at tiny sizes: the run directory, the checkpoint reused, the stochastic
variant with a latent z, and clear one-line errors for bad configurations."""

from __future__ import annotations

import json

import pytest
import torch

from hjepa.cli import main
from hjepa.data.trajectories import Trajectories
from hjepa.world.checkpoint import load_world_checkpoint

TINY = [
    "--data.episodes", "16", "--data.steps", "80", "--data.heldout-episodes", "8",
    "--model.channels", "8", "--model.state-dim", "16", "--model.predictor-hidden", "32", "--model.idm-hidden", "32",
    "--train.steps", "4", "--train.batch-size", "8", "--train.eval-every", "4", "--train.eval-windows", "16",
    "--train.warmup-steps", "1", "--train.log-every", "2",
    "--level2.state-dim", "8", "--level2.hidden", "16", "--level2.layers", "2",
    "--level2-train.steps", "4", "--level2-train.batch-size", "8", "--level2-train.window", "2",
    "--plan.samples", "8", "--plan.low-horizon", "4", "--plan.flat-horizon", "6", "--plan.high-horizon", "3",
    "--plan.beam", "4", "--plan.keep-best", "2", "--plan.iterations", "1",
    "--eval.episodes", "2", "--eval.record", "1", "--eval.min-rooms", "2", "--eval.max-rooms", "3",
    "--env.max-episode-steps", "16", "--distance.train.steps", "20", "--distance.train.batch", "16",
    "--distance.hidden", "16", "--no-progress",
]
RUN_FILES = ["config.json", "metrics.jsonl", "checkpoints/hierarchy.pt", "training_curves.png", "paths.png",
             "episodes.gif", "report.md", "summary.json", "data/meta.json"]


def cli(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def test_maze_command_writes_a_run_directory_and_reuses_its_checkpoint(tmp_path, capsys):
    code, out, err = cli(["maze", "--name", "tiny", "--runs-root", tmp_path, *TINY], capsys)
    assert code == 0, err
    run = tmp_path / "tiny"
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["controllers"]) == {"hierarchical (distance)", "flat", "flat (distance)"}
    assert summary["episodes"] == 2 and 0.0 <= summary["success_rate"] <= 1.0
    assert "hierarchical (distance): success" in out and "flat: success" in out
    assert summary["world_model"]["distance_mazes"] == 1 and summary["world_model"]["distance_loss"] >= 0
    data = Trajectories.load(run / "data")
    assert len(data) == 16 and data.steps == 80
    stored = load_world_checkpoint(run / "checkpoints" / "hierarchy.pt", "maze-hierarchy")
    low, high, probe = stored.model, stored.level2, stored.probe
    assert high.low_state_dim == low.state_dim == 16 and high.macro_steps == 4 and probe is not None
    assert stored.distance is not None and stored.distance.state_dim == high.state_dim == 8
    # Reuse the checkpoint, flat planning only.
    code, out, err = cli(["maze", "--name", "again", "--runs-root", tmp_path, *TINY, "--no-hierarchical",
                          "--checkpoint", run / "checkpoints" / "hierarchy.pt"], capsys)
    assert code == 0, err
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert set(again["controllers"]) == {"flat", "flat (distance)"}  # the checkpoint's distance plans flat too


@pytest.mark.parametrize("mode", ["worst", "inferred"])
def test_stochastic_maze_with_latent_z(tmp_path, capsys, mode):
    code, out, err = cli(["maze", "--name", "z", "--runs-root", tmp_path, *TINY, "--env.unreliable", "6",
                          "--env.door-close-prob", "0.5", "--level2.latent-dim", "1", "--plan.z-mode", mode,
                          "--plan.z-draws", "3", "--eval.no-flat-baseline", "--plan.level2-search", "spread"], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "z" / "summary.json").read_text())
    assert set(summary["controllers"]) == {f"hierarchical (z {mode})"}
    high = load_world_checkpoint(tmp_path / "z" / "checkpoints" / "hierarchy.pt", "maze-hierarchy").level2
    assert high.latent_dim == 1 and bool((high.z_scale > 0).all())


def test_landmark_level2_plans_on_the_walks_graph(tmp_path, capsys):
    code, out, err = cli(["maze", "--name", "lm", "--runs-root", tmp_path, *TINY, "--plan.level2-search", "landmarks",
                          "--plan.landmarks", "12", "--plan.landmark-min-count", "1", "--plan.landmark-horizon", "6",
                          "--plan.unstick"],
                         capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "lm" / "summary.json").read_text())
    assert set(summary["controllers"]) == {"hierarchical (landmarks)", "flat"}
    assert summary["world_model"]["landmarks"] == 12 and summary["world_model"]["landmark_edges"] > 0
    assert summary["landmark_seconds"] > 0


@pytest.mark.parametrize("args, message", [
    (["--plan.level2-search", "landmarks", "--env.layout", "random"], "remembers one maze"),
    (["--plan.landmark-max-ratio", "0"], "landmark_max_ratio"),
    (["--level2.macro-steps", "0"], "macro_steps"),
    (["--plan.z-mode", "expected"], "z at its mean"),
    (["--plan.z-mode", "expected", "--plan.level2-search", "spread"], "needs a latent"),
    (["--distance.train.expectile", "1.0"], "expectile"),
    (["--distance.radius", "0"], "radius"),
    (["--plan.z-temperature", "0"], "z_temperature"),
    (["--plan.keep-best", "9", "--plan.beam", "4"], "keep_best"),
    (["--eval.min-rooms", "5", "--eval.max-rooms", "2"], "min_rooms"),
    (["--model.obs-size", "32"], "obs_size"),
])
def test_bad_configurations_are_one_line_errors(tmp_path, capsys, args, message):
    code, out, err = cli(["maze", "--name", "bad", "--runs-root", tmp_path, *TINY, *args], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


def test_mismatched_checkpoint_is_refused(tmp_path, capsys):
    missing = tmp_path / "none.pt"
    code, _, err = cli(["maze", "--name", "x", "--runs-root", tmp_path, *TINY, "--checkpoint", missing], capsys)
    assert code == 2 and "not found" in err
    wrong = tmp_path / "wrong.pt"
    torch.save({"format": "something else"}, wrong)
    code, _, err = cli(["maze", "--name", "x", "--runs-root", tmp_path, *TINY, "--checkpoint", wrong], capsys)
    assert code == 2 and "not a world-model checkpoint" in err
