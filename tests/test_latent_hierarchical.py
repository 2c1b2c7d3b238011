"""The two-level controller from pixels (hjepa.control.latent_hierarchical): what it returns, when it
hands the goal itself to level 1, that it follows level 2's subgoal otherwise, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hjepa.control.latent_hierarchical import HierarchicalLatentMPC
from hjepa.control.worlds import PixelObservation
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError
from hjepa.planning.cem import CEM
from hjepa.planning.hierarchical import HierarchicalPlanner
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.hierarchy import HighLevelModel

FRAMESKIP, A = 2, 2


def _parts(seed: int = 0):
    torch.manual_seed(seed)
    model, _ = build_world_model(WorldModelConfig(architecture="vector", obs_channels=3, obs_pool=2, channels=(8,),
                                                  state_dim=16, predictor_hidden=32, frameskip=FRAMESKIP, action_dim=A))
    high = HighLevelModel(16, 8, macro_steps=3, low_action_dim=FRAMESKIP * A, latent_action_dim=2, latent_dim=0,
                          hidden=32, layers=2)
    planner = HierarchicalPlanner(CEM(2, -3.0, 3.0, samples=32, elites=4, iterations=3),
                                  CEM(FRAMESKIP * A, -1.0, 1.0, samples=32, elites=4, iterations=3),
                                  high_horizon=3, low_horizon=3)
    return model.eval(), high.eval(), planner


def _tasks(frames: np.ndarray, goal_frames: np.ndarray) -> Tasks:
    n = len(frames)
    return Tasks(torch.zeros(n, 4), torch.zeros(n, 4), start_frames=torch.from_numpy(frames[:, None]),
                 goal_frames=torch.from_numpy(goal_frames[:, None]))


def test_actions_are_whole_planner_steps_in_the_raw_box_and_a_goal_at_hand_goes_to_level_1():
    model, high, planner = _parts()
    scale = np.array([40.0, 40.0])
    controller = HierarchicalLatentMPC(model, high, planner, scale, FRAMESKIP, torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 3, 64, 64), dtype=np.uint8)
    goals = frames.copy()
    goals[1] = rng.integers(0, 255, (3, 64, 64), dtype=np.uint8)
    controller.reset(_tasks(frames, goals))
    out = controller.act(PixelObservation(frames, None), torch.arange(3))
    assert out.action.shape == (3, FRAMESKIP, A) and np.abs(out.action).max() <= 40.0 + 1e-9
    state = controller._state
    assert state.subgoal.shape == (3, 8) and state.since_high == 1
    # Start = goal: level 2 cannot get closer than where it is, so level 1 aims at the goal itself.
    assert bool(state.final[0]) and bool(state.final[2])


def test_level_1_follows_level_2s_subgoal():
    """With a subgoal fixed in the planner's state, level 1's plan brings the abstract state nearer to it
    than a plan toward another subgoal does: the subgoal, not the goal, drives level 1."""
    model, high, planner = _parts(1)
    controller = HierarchicalLatentMPC(model, high, planner, np.ones(A), FRAMESKIP, torch.Generator().manual_seed(0))
    rng = np.random.default_rng(1)
    frames = np.repeat(rng.integers(0, 255, (1, 3, 64, 64), dtype=np.uint8), 16, 0)
    controller.reset(_tasks(frames, rng.integers(0, 255, (16, 3, 64, 64), dtype=np.uint8)))
    controller.act(PixelObservation(frames, None), torch.arange(16))  # level 2 plans once
    with torch.no_grad():
        s1 = model.encode(torch.from_numpy(frames).float() / 255.0)
        reachable = high.abstract(model.step(s1, torch.rand(16, FRAMESKIP * A, generator=torch.Generator().manual_seed(2)) * 2 - 1))
    errors = []
    for target in (reachable, reachable.flip(0)):
        controller._state = type(controller._state)(subgoal=target, final=torch.zeros(16, dtype=torch.bool), since_high=0)
        planner.replan_every = 10  # keep the subgoal
        out = controller.act(PixelObservation(frames, None), torch.arange(16))
        with torch.no_grad():
            reached = high.abstract(model.step(s1, torch.from_numpy(out.action.reshape(16, -1)).float()))
        errors.append((reached - reachable).pow(2).sum(-1))
    assert errors[0].mean() < errors[1].mean()


def test_a_level_2_of_another_model_is_refused():
    model, _, planner = _parts()
    other = HighLevelModel(32, 8, 3, FRAMESKIP * A, 2, 0, 32, 2)
    with pytest.raises(InputError, match="level 2 was built"):
        HierarchicalLatentMPC(model, other, planner, np.ones(A), FRAMESKIP, torch.Generator())
    with pytest.raises(InputError, match="frameskip"):
        HierarchicalLatentMPC(model, _parts()[1], planner, np.ones(3), FRAMESKIP, torch.Generator())
    with pytest.raises(ValueError, match="before reset"):
        HierarchicalLatentMPC(model, _parts()[1], planner, np.ones(A), FRAMESKIP, torch.Generator()).act(
            PixelObservation(np.zeros((1, 3, 64, 64), np.uint8), None), torch.arange(1))
