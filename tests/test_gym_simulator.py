"""The pixel environments' true simulators (hjepa.envs.adapters: batched reacher rollouts in MuJoCo,
PushT's pymunk) and the "same planner on the true simulator" baseline of `hjepa gym`."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.test_gym_pipeline import TINY

from hjepa.cli import main
from hjepa.control.episodes import run_episodes
from hjepa.control.gym_simulator import TrueSimulatorMPC
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import make_planner
from hjepa.control.worlds import PixelWorld
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.envs.adapters import PixelEnvBatch, env_functions
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError
from hjepa.recipes.gym_config import GYM_PLAN, GymEvalConfig, GymJob, resolve, simulator_plan

os.environ.setdefault("MUJOCO_GL", "egl")


def _needs(env: str) -> None:
    module = {"reacher": "dm_control.suite", "pusht": "gym_pusht"}[env]
    pytest.importorskip(module, reason=f"{module} is not installed (pip install 'hjepa[envs]')")


def _sequential(env: str, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Each row stepped by a fresh adapter put in its state: ``(N, T, S)``."""
    out = []
    for state, row in zip(states, actions):
        adapter = env_functions(env).make(16)
        adapter.set_state(state)
        out.append([(adapter.step(a), adapter.get_state())[1] for a in row])
        adapter.close()
    return np.asarray(out)


def _reacher_starts(n: int, seed: int) -> np.ndarray:
    """Varied reacher states: after random torques, and one pressed against the wrist's limit."""
    rng = np.random.default_rng(seed)
    adapter = env_functions("reacher").make(16)
    states = []
    for i in range(n):
        adapter.reset(seed + i)
        for _ in range(int(rng.integers(1, 20))):
            adapter.step(rng.uniform(-1, 1, 2))
        states.append(adapter.get_state())
    adapter.close()
    states = np.asarray(states)
    states[0, 1], states[0, 3] = 2.7, 6.0  # the wrist limit is +-2.79 rad: its constraint acts
    return states


def test_reacher_batched_rollout_is_the_adapters_steps():
    _needs("reacher")
    states = _reacher_starts(4, seed=3)
    actions = np.random.default_rng(0).uniform(-1.5, 1.5, (4, 12, 2))  # beyond the box: both clip
    simulator = env_functions("reacher").simulator()
    try:
        batched = simulator.simulate(states, actions)
        one_step = simulator.simulate(states, actions[:, :1])
    finally:
        simulator.close()
    reference = _sequential("reacher", states, actions)
    assert batched.shape == (4, 12, 6)
    np.testing.assert_allclose(batched, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(one_step[:, 0], reference[:, 0], rtol=0, atol=1e-9)
    assert batched[0, :, 1].max() > np.radians(160)  # row 0 pressed into the (soft) limit: the solver worked
    with pytest.raises(InputError, match="actions must be"):
        env_functions("reacher").simulator().simulate(states, actions[:2])


def test_pusht_simulate_is_the_adapters_steps():
    _needs("pusht")
    rng = np.random.default_rng(1)
    adapter = env_functions("pusht").make(16)
    adapter.reset(3)
    states, state = [], adapter.get_state()
    for t in range(40):  # walk into the block and push it: starts with contacts
        adapter.step(np.clip((state[2:4] - state[:2]) * 0.5, -40, 40) + rng.normal(0, 5, 2))
        state = adapter.get_state()
        if t % 8 == 7:
            states.append(state)
    adapter.close()
    states = np.asarray(states)
    actions = rng.uniform(-50, 50, (len(states), 6, 2))
    simulator = env_functions("pusht").simulator()
    try:
        first = simulator.simulate(states, actions)
        again = simulator.simulate(states[::-1], actions[::-1])[::-1]  # rows do not depend on the rows before
    finally:
        simulator.close()
    reference = _sequential("pusht", states, actions)
    np.testing.assert_allclose(first, reference, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(first, again)
    assert np.abs(reference[:, -1, 2:5] - states[:, 2:5]).max() > 1.0  # the block did move


def test_true_simulator_mpc_reaches_reacher_goals():
    _needs("reacher")
    torch.set_num_threads(1)
    functions = env_functions("reacher")
    simulator = functions.simulator()
    batch = PixelEnvBatch(lambda: functions.make(16), 4)
    try:
        starts = _reacher_starts(4, seed=11)
        starts[:, 2:4] = 0.0
        goals = starts.copy()  # both joints 0.7 rad away (the fingertip 0.08-0.21 m away)
        goals[:, :2] += np.random.default_rng(2).choice([-0.7, 0.7], (4, 2))
        goals[:, 1] = np.clip(goals[:, 1], -2.5, 2.5)
        initial = functions.distances(starts, goals)["fingertip"]
        assert (initial > 0.06).all()  # none solved at the start
        tasks = Tasks(torch.from_numpy(starts), torch.from_numpy(goals), start_frames=torch.zeros(4, 1, 3, 16, 16, dtype=torch.uint8))
        plan = dataclasses.replace(GYM_PLAN, samples=48, elites=6, iterations=4)
        mpc = ModelPredictiveController(make_planner(plan, 10, 1.0), plan.horizon, 5, torch.Generator().manual_seed(0))
        world = PixelWorld(batch, functions.success, functions.distances)
        controller = TrueSimulatorMPC(
            simulator, functions.goal_features, world.state, mpc, IntrinsicCost(squared=True, reduce_min=True), np.ones(2), hold=False
        )
        result = run_episodes(world, controller, tasks, 50)
        final = functions.distances(batch.states(), goals)["fingertip"]
    finally:
        batch.close()
        simulator.close()
    assert result.summary()["success_rate"] >= 0.75
    assert final.mean() < 0.3 * initial.mean()


def test_simulator_budget_and_environments_without_a_simulator():
    pusht = simulator_plan(resolve(GymJob(env="pusht")))
    assert (pusht.samples, pusht.iterations, pusht.elites) == (64, 6, 6)
    assert (pusht.horizon, pusht.min_over_horizon, pusht.hold) == (GYM_PLAN.horizon, GYM_PLAN.min_over_horizon, GYM_PLAN.hold)
    reacher = simulator_plan(resolve(GymJob(env="reacher")))
    assert (reacher.samples, reacher.iterations, reacher.elites) == (300, 30, 30)
    chosen = GymJob(env="reacher", eval=GymEvalConfig(simulator_samples=100, simulator_iterations=3))
    assert (simulator_plan(chosen).samples, simulator_plan(chosen).iterations, simulator_plan(chosen).elites) == (100, 3, 10)
    with pytest.raises(InputError, match="simulator_samples"):
        GymEvalConfig(simulator_samples=1)
    for env in ("pointmaze", "pendulum"):
        assert env_functions(env).simulator is None and env_functions(env).goal_features is None


def test_gym_reports_the_true_simulator_baseline(tmp_path):
    _needs("reacher")
    args = ["gym", "--env", "reacher", "--runs-root", str(tmp_path), "--name", "run", *TINY, "--threads", "1",
            "--eval.goal-source", "expert", "--eval.simulator"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    row = summary["controllers"]["true simulator + CEM"]
    assert {"success_rate", "final_success_rate", "planning_ms_per_step"} <= set(row)
    assert summary["simulator_budget"] == {"label": "true simulator + CEM", "samples": 8, "iterations": 1, "elites": 2}
    assert "true simulator + CEM" in (tmp_path / "run" / "report.md").read_text()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import peer_protocol

    rows = peer_protocol.rows_of("reacher", "pldm", "validation", summary, 1.0)
    assert [r["controller"] for r in rows] == ["learned", "random", "simulator"]
    summary["controllers"]["true simulator + CEM 64x6"] = summary["controllers"].pop("true simulator + CEM")
    assert peer_protocol.controller_result(summary, "true simulator + CEM") is row
