"""Smoke test of benchmarks/agent_suite.py on a tiny world model: every section, tiny sizes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.nn.linear_probe import fit_linear_probe
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.checkpoint import checkpoint_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

TRAIN = ("--collect-episodes 3 --critic.steps 3 --critic.rounds 1 --critic.round-episodes 2 --critic.batch-size 8 "
         "--policy.rounds 1 --policy.round-episodes 2 --policy.fit-steps 3 --episodes 2 --record 1")


def test_agent_suite_runs_every_section(tmp_path):
    import agent_suite

    torch.manual_seed(0)
    config = WorldModelConfig(architecture="vector", obs_pool=2, channels=(4, 8), state_dim=8,
                              predictor_hidden=16, predictor_layers=2, idm_hidden=16)
    model, idm = build_world_model(config)
    env = TwoRooms(TwoRoomsConfig(fixed_layout=True))
    pos = torch.rand(64, 2, generator=torch.Generator().manual_seed(0)) * 50 + 5
    with torch.no_grad():
        probe = fit_linear_probe(model.encode(env.render(pos, env.sample_layout(64))), pos)
    run = RunDir.create(tmp_path, "wm")
    run.write_config({"layout": "fixed", "env": {"max_episode_steps": 8}})
    checkpoint = run.save_checkpoint("world_model", checkpoint_state("two-rooms", model, config, idm, probe))
    path = agent_suite.main(agent_suite.Config(
        checkpoint=checkpoint, episodes=2, horizons=(2,), warm_samples=(4,), latency_episodes=1, train_args=TRAIN,
        runs_root=tmp_path, progress=False, out_dir=tmp_path))
    result = json.loads(path.read_text())
    assert result["format"] == "hjepa.benchmark/1"
    sections = [r["section"] for r in result["rows"]]
    assert sections == ["critic", "critic", "mode1", "mode1", "mode1", "warm", "warm", "zone", "zone"]  # sampled + mean
    assert all(0 <= r["success_rate"] <= 1 for r in result["rows"])
    assert "latency_ms" in result["rows"][2] and (tmp_path / "bench-agent-train" / "checkpoints" / "policy.pt").is_file()

    import critic_discount

    memory = tmp_path / "bench-agent-train" / "checkpoints" / "memory.pt"
    path = critic_discount.main(critic_discount.Config(
        memory=memory, checkpoint=checkpoint, discounts=(0.5, 0.9), steps=3, horizon=2, episodes=2, out_dir=tmp_path))
    rows = json.loads(path.read_text())["rows"]
    assert [r["discount"] for r in rows] == [0.5, 0.9]
    assert all(0 <= r["success_rate"] <= 1 and r["effective_decisions"] == 1 / (1 - r["discount"]) for r in rows)


def test_critic_discount_rejects_bad_input(tmp_path):
    import critic_discount

    with pytest.raises(FileNotFoundError, match="no memory checkpoint"):
        critic_discount.Config(memory=tmp_path / "missing.pt")
    (tmp_path / "memory.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="discounts must be in"):
        critic_discount.Config(memory=tmp_path / "memory.pt", discounts=(0.9, 1.0))
