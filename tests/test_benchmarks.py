"""Smoke test of the benchmark scripts: tiny sizes, results written to a temporary directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

# Small enough for a few seconds per run on 2 busy cores, still every stage of the pipeline.
TINY = ("--threads 1 --no-progress --train.steps 30 --train.batch-size 16 --train.eval-windows 32 "
        "--data.episodes 100 --data.heldout-episodes 40 --eval.episodes 4 --eval.record 0 "
        "--env.max-episode-steps 20 --plan.samples 16 --plan.elites 4 --plan.horizon 4 "
        "--train.window 4 --practice.rounds 1 --practice.tasks 4 --practice.steps 2")


def load(path: Path) -> dict:
    result = json.loads(path.read_text())
    assert result["format"] == "hjepa.benchmark/1"
    assert {"cpu", "cores", "torch", "torch_threads"} <= set(result["machine"])
    assert result["rows"] and set(result["columns"]) >= {k for k in ("measure", "planner", "run") if k in result["rows"][0]}
    return result


def test_env_throughput_quick(tmp_path):
    import env_throughput

    result = load(env_throughput.main(env_throughput.Config(quick=True, out_dir=tmp_path)))
    measures = {(r["measure"], r["N"]) for r in result["rows"]}
    assert {("step", 1), ("step + render", 64), ("step", 64)} <= measures
    stored = next(r for r in result["rows"] if r["measure"] == "stored dataset")
    # positions (101x2) + actions (100x2) float32 per episode: at least 1.6 MB per 1000 episodes.
    assert stored["MB_per_1000_episodes"] > 1.6
    assert all(r["env_steps_per_s"] > 0 for r in result["rows"] if "env_steps_per_s" in r)


def test_planning_speed_quick(tmp_path):
    import planning_speed

    result = load(planning_speed.main(planning_speed.Config(quick=True, threads=1, out_dir=tmp_path)))
    assert {(r["planner"], r["B"]) for r in result["rows"]} == {(p, b) for p in ("mppi", "cem", "gradient") for b in (1, 4)}
    for row in result["rows"]:
        assert 0 < row["median_ms_per_env_step"] <= row["p90_ms_per_env_step"]
        assert row["median_ms_per_env_step"] == pytest.approx(row["median_ms_per_decision"] / 4)


def test_planning_speed_replan_every(tmp_path):
    import planning_speed

    config = planning_speed.Config(planners=("mppi",), batches=(1,), decisions=4, warmup=1, replan_every=(1, 2),
                                   threads=1, out_dir=tmp_path)
    rows = load(planning_speed.main(config))["rows"]
    assert [(r["replan_every"], r["decisions"]) for r in rows] == [(1, 4), (2, 4)]
    assert all(r["median_ms_per_env_step"] > 0 for r in rows)


def test_two_rooms_suite_ablation_tiny(tmp_path):
    import two_rooms_suite
    import update_results

    config = two_rooms_suite.Config(suite="ablation", extra_args=TINY, runs_root=tmp_path / "runs", out_dir=tmp_path)
    result = load(two_rooms_suite.main(config))
    assert [r["run"] for r in result["rows"]] == ["full", "variance=0", "covariance=0", "smoothness=0", "inverse-dynamics=0"]
    for row in result["rows"]:
        assert row["episodes"] == 4 and row["train_steps"] == 30
        for key in ("success_rate", "random_success_rate", "simulator_success_rate"):
            assert 0.0 <= row[key] <= 1.0
    ablated = json.loads((tmp_path / "runs" / "bench-ablation-variance0" / "config.json").read_text())
    assert ablated["loss"]["variance"] == 0

    out = update_results.main(update_results.Config(results_dir=tmp_path, out=tmp_path / "RESULTS.md"))
    text = out.read_text()
    assert "Two Rooms quality: ablation suite" in text and "inverse-dynamics=0" in text


def test_peer_protocol_curves_plot_and_table(tmp_path):
    """Success against CPU-minutes: the learned rows only, one table line per (env, recipe) with both splits."""
    import peer_protocol_curves

    def row(env, recipe, split, rate, minutes, controller="learned"):
        return {"env": env, "recipe": recipe, "split": split, "success_rate": rate, "stderr": 0.05,
                "cpu_minutes": minutes, "controller": controller}

    rows = [row("pusht", "pldm-proprio", "validation", 0.44, 10.0), row("pusht", "pldm-proprio", "test", 0.66, 10.0),
            row("pusht", "pldm-proprio-3x", "test", 0.70, 29.0), row("pusht", "pldm-proprio", "test", 0.14, 10.0, "random"),
            row("reacher", "lewm-proprio", "test", 0.94, 12.0)]
    source = tmp_path / "peer_protocol.json"
    source.write_text(json.dumps({"rows": rows}))
    png = peer_protocol_curves.main(peer_protocol_curves.Config(source=source, out_dir=tmp_path / "out"))
    assert png.is_file() and png.stat().st_size > 1000
    lines = (tmp_path / "out" / "peer_protocol_curves.md").read_text().splitlines()
    assert "| pusht | pldm-proprio | 10.0 | 44% +- 5.0% | 66% +- 5.0% |" in lines
    assert "| pusht | pldm-proprio-3x | 29.0 | - | 70% +- 5.0% |" in lines
    assert sum(line.startswith("| ") for line in lines) == 1 + 3  # the header and three recipes (random left out)


def test_peer_protocol_two_rooms_ours_keeps_other_rows(tmp_path):
    """Our protocol's rows join peer_protocol.json beside the stable-wm rows, which stay as they were."""
    import shutil

    import torch

    import peer_protocol_two_rooms
    from hjepa.world.build import WorldModelConfig, build_world_model
    from hjepa.world.checkpoint import checkpoint_state

    torch.manual_seed(0)
    config = WorldModelConfig(channels=(8,), state_dim=16, spatial_channels=4, predictor_hidden=16, idm_hidden=16)
    model, inverse_dynamics = build_world_model(config)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(checkpoint_state("two-rooms", model, config, inverse_dynamics), run / "checkpoints" / "world_model.pt")
    (run / "summary.json").write_text(json.dumps({"train_seconds": 60.0}))
    shutil.copy(BENCH / "results" / "peer_protocol.json", tmp_path / "peer_protocol.json")
    before = json.loads((tmp_path / "peer_protocol.json").read_text())["rows"]
    tiny = "--plan.samples 8 --plan.elites 2 --plan.horizon 2 --plan.replan-every 1 --precision fp32 --eval.record 0"
    peer_protocol_two_rooms.main(peer_protocol_two_rooms.Config(
        demo_run=run, protocol="hjepa", name="tiny", recipe="tiny", plan_args=tiny, runs_root=tmp_path / "runs",
        episodes=2, out_dir=tmp_path))
    after = json.loads((tmp_path / "peer_protocol.json").read_text())["rows"]
    ours = [row for row in after if row["recipe"] == "tiny"]
    assert {(row["split"], row["controller"]) for row in ours} == {
        (split, controller) for split in ("validation", "test") for controller in ("learned", "simulator", "random")}
    assert all(row["protocol"] == "hjepa" and row["episodes"] == 2 and row["cpu_minutes"] == 1.0 for row in ours)
    assert [row for row in after if row["recipe"] != "tiny"] == before
