"""The learned temporal distance (hjepa.world.temporal_distance) and the planning costs built on it
(hjepa.planning.distance), on problems with known answers."""

from __future__ import annotations

import pytest
import torch

from hjepa.errors import InputError
from hjepa.planning.distance import DistanceGuidance, distance_to_goal_cost
from hjepa.planning.hierarchical import HierarchicalPlanner, TwoLevelProblem
from hjepa.planning.search import SpreadSearch
from hjepa.world.temporal_distance import (
    DistanceTrainConfig,
    SameMaze,
    TemporalDistance,
    distance_targets,
    train_temporal_distance,
)

# A U-shaped corridor of 15 cells: up the left arm (x = 0), across the bottom, down the right arm (x = 2).
# Its two ends are 2 apart in the plane but 14 steps apart along the corridor (a wall between the arms).
U = torch.tensor([[0.0, 6 - i] for i in range(7)] + [[1.0, 0.0]] + [[2.0, i] for i in range(7)])  # (15, 2)


def corridor_walks(walks: int, steps: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random walks (+-1 cell per step) along the U: states (E, T+1, 2) and cell indices (E, T+1)."""
    cell = torch.randint(0, len(U), (walks,), generator=generator)
    cells = [cell]
    for _ in range(steps):
        step = torch.randint(0, 2, (walks,), generator=generator) * 2 - 1
        cell = (cell + step).clamp(0, len(U) - 1)
        cells.append(cell)
    cells = torch.stack(cells, 1)
    return U[cells], cells


@pytest.mark.parametrize("embed_dim", [0, 4])
def test_the_distance_learns_the_corridor_not_the_plane(embed_dim):
    """Trained on random walks only, d follows the corridor: the two ends (2 apart in the plane) come out
    far apart, and d ranks pairs by their steps along the corridor (as a pair MLP and as an embedding)."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    walks, _ = corridor_walks(256, 40, generator)
    model = TemporalDistance(2, 64, 3, embed_dim=embed_dim)
    config = DistanceTrainConfig(steps=1500, batch=256, lr=2e-3, target_ema=0.98)
    info = train_temporal_distance(model, walks, 1, config, generator)
    assert info["steps"] == 1500 and info["loss"] == info["loss"]
    with torch.no_grad():
        i, j = torch.meshgrid(torch.arange(len(U)), torch.arange(len(U)), indexing="ij")
        d = model(U[i.flatten()], U[j.flatten()]).view(len(U), len(U))
    steps = (i - j).abs().float()
    assert d[0, -1] > 8.0  # the ends: 14 steps, 2 apart in the plane
    assert (d.diagonal().unsqueeze(1) < d.masked_fill(steps < 3, float("inf"))).all()  # d(i, i) below any pair 3+ apart
    rank = lambda x: x.flatten().argsort().argsort().float()  # noqa: E731
    assert torch.corrcoef(torch.stack([rank(d), rank(steps)]))[0, 1] > 0.9
    euclid = (U[i] - U[j]).norm(dim=-1)
    assert torch.corrcoef(torch.stack([rank(d), rank(euclid)]))[0, 1] < torch.corrcoef(torch.stack([rank(d), rank(steps)]))[0, 1]


@pytest.mark.parametrize("embed_dim", [0, 6])
def test_many_targets_at_once_equal_one_at_a_time(embed_dim):
    torch.manual_seed(0)
    model = TemporalDistance(5, 16, 3, embed_dim=embed_dim)
    states, targets = torch.randn(2, 3, 4, 5), torch.randn(3, 2, 5)  # (B, S, T, D), (K, B, D)
    expected = torch.stack([model(states, t[:, None, None, :].expand_as(states)) for t in targets])
    torch.testing.assert_close(model.to_targets(states, targets), expected)
    if embed_dim:  # a metric: symmetric, zero on the diagonal
        a, b = torch.randn(7, 5), torch.randn(7, 5)
        torch.testing.assert_close(model(a, b), model(b, a))
        assert model(a, a).max() < 1e-2


def test_targets_use_the_walks_own_time_and_other_walks_of_the_same_maze_only():
    generator = torch.Generator().manual_seed(1)
    walks = torch.arange(4 * 6, dtype=torch.float32).view(4, 6, 1)  # 4 walks of 6 states, all distinct
    far = TemporalDistance(1, 8, 2)
    with torch.no_grad():
        far.net[-1].bias.fill_(100.0)  # d ~ 100 everywhere: the walk's own time is always the smaller target
    state, goal, y = distance_targets(far, walks, gap=2, batch=512, same_walk=1.0, max_distance=64.0,
                                      same_maze=SameMaze(torch.zeros(4, dtype=torch.long)), generator=generator)
    assert torch.equal(y, (goal - state).squeeze(-1) / 2)  # steps ahead on the same walk, in macro steps of 2
    mazes = torch.tensor([0, 1, 0, 1])
    state, goal, y = distance_targets(far, walks, gap=2, batch=512, same_walk=0.0, max_distance=64.0,
                                      same_maze=SameMaze(mazes), generator=generator)
    assert torch.equal(mazes[(state // 6).long().squeeze(-1)], mazes[(goal // 6).long().squeeze(-1)])
    assert torch.equal(y, torch.full_like(y, 64.0))  # clipped


def test_bad_inputs_are_refused():
    model = TemporalDistance(3, 8, 2)
    generator = torch.Generator()
    config = DistanceTrainConfig(steps=1)
    with pytest.raises(InputError, match="walk states"):
        train_temporal_distance(model, torch.zeros(4, 5, 2), 1, config, generator)
    with pytest.raises(InputError, match="NaN"):
        train_temporal_distance(model, torch.full((4, 5, 3), float("nan")), 1, config, generator)
    with pytest.raises(InputError, match="gap"):
        train_temporal_distance(model, torch.zeros(4, 5, 3), 5, config, generator)
    with pytest.raises(InputError, match="layouts"):
        train_temporal_distance(model, torch.zeros(4, 5, 3), 1, config, generator, layouts=torch.zeros(3, dtype=torch.long))
    with pytest.raises(InputError, match="expectile"):
        DistanceTrainConfig(expectile=1.0)
    with pytest.raises(InputError, match="3-dim"):
        model(torch.zeros(2, 4), torch.zeros(2, 4))


def l1(state, goal):  # a known distance: one macro step per unit of L1 distance
    return (state - goal).abs().sum(-1)


def test_level2_cost_counts_steps_plus_what_is_left_and_penalises_leaks():
    guidance = DistanceGuidance(l1, leak=2.0, reach=1.0, goal_weight=0.5, radius=1.5)
    goal = torch.tensor([[5.0, 0.0]])
    plans = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]],   # two honest steps: 2 + 3
                          [[0.0, 0.0], [4.0, 0.0], [4.0, 0.0]]])  # one step of 4 (a leak): 1 + 1 + 2 * 3
    cost = guidance.high_cost(goal)(plans.unsqueeze(0), None)
    assert torch.allclose(cost, torch.tensor([[5.0, 8.0]]))
    assert torch.allclose(DistanceGuidance(l1, leak=0.0).high_cost(goal)(plans.unsqueeze(0), None), torch.tensor([[5.0, 2.0]]))
    assert guidance.near(torch.tensor([[4.0, 0.0], [3.0, 0.0]]), goal.expand(2, 2)).tolist() == [True, False]
    low = torch.tensor([[[[3.0, 0.0], [2.0, 0.0]]]])  # (B=1, S=1, T=2, D)
    toward = guidance.toward(torch.tensor([[2.0, 1.0]]), goal)(low)
    assert torch.allclose(toward, torch.tensor([[1.0 + 0.5 * 2.0]]))
    flat = distance_to_goal_cost(l1, lambda s: 2 * s, goal / 2)
    assert torch.allclose(flat(torch.cat([torch.zeros(1, 1, 1, 2), low], 2), None), torch.tensor([[1.0]]))  # 2*(3,0), 2*(2,0) vs (5,0)
    with pytest.raises(InputError, match="radius"):
        DistanceGuidance(l1, radius=0.0)


def test_hierarchical_planner_with_distance_hooks_goes_round_the_wall():
    """Level 2 on a line world whose predictor leaks through a wall: the leak looks shortest by squared
    distance, but the distance (which knows the wall) makes level 2 pick the honest step."""
    goal = torch.tensor([[10.0]])
    wall_distance = lambda s, g: (s - g).abs().sum(-1) + 20.0 * ((s[..., 0] < 5) != (g[..., 0] < 5)).float()  # noqa: E731
    actions = torch.tensor([[1.0], [-1.0], [6.0]])  # the last one 'jumps the wall' in the model

    def dynamics(state, action):
        return state + action

    guidance = DistanceGuidance(wall_distance, leak=1.0, reach=1.0, goal_weight=0.0, radius=0.5)
    problem = TwoLevelProblem(dynamics, dynamics, high_cost=guidance.high_cost, near=guidance.near, toward=guidance.toward)
    planner = HierarchicalPlanner(SpreadSearch(actions, beam=3, keep_best=3), SpreadSearch(actions, beam=3, keep_best=3),
                                  high_horizon=1, low_horizon=1)
    result = planner.plan(torch.tensor([[0.0]]), goal, problem)
    assert result.info["subgoal"].tolist() == [[1.0]] and result.info["final"].tolist() == [False]
    plain = planner.plan(torch.tensor([[0.0]]), goal, TwoLevelProblem(dynamics, dynamics))
    assert plain.info["subgoal"].tolist() == [[6.0]]  # squared distance takes the leak


def test_a_maze_checkpoint_carries_its_distance(tmp_path):
    from hjepa.runs.run_dir import RunDir
    from hjepa.world.build import WorldModelConfig, build_world_model
    from hjepa.world.checkpoint import checkpoint_state, load_world_checkpoint
    from hjepa.world.hierarchy import HighLevelModel

    config = WorldModelConfig(architecture="vector", obs_pool=2, channels=(8, 16), state_dim=16, predictor_hidden=32,
                              predictor_layers=2, idm_hidden=32)
    low, _ = build_world_model(config)
    high = HighLevelModel(16, 8, macro_steps=2, low_action_dim=low.action_dim, latent_action_dim=2, latent_dim=0,
                          hidden=16, layers=2)
    distance = TemporalDistance(8, 16, 2)
    run = RunDir.create(tmp_path, "ckpt")
    path = run.save_checkpoint("hierarchy", checkpoint_state("maze-hierarchy", low, config, level2=high, distance=distance))
    stored = load_world_checkpoint(path, "maze-hierarchy")
    assert stored.distance is not None and not stored.distance.training
    s, g = torch.randn(5, 8), torch.randn(5, 8)
    torch.testing.assert_close(stored.distance(s, g), distance.eval()(s, g), rtol=0, atol=0)
    without = load_world_checkpoint(run.save_checkpoint("plain", checkpoint_state("maze-hierarchy", low, config, level2=high)),
                                    "maze-hierarchy")
    assert without.distance is None
    wrong = checkpoint_state("maze-hierarchy", low, config, level2=high, distance=TemporalDistance(4, 16, 2))
    with pytest.raises(InputError, match="4-dim states, level 2 has 8"):
        load_world_checkpoint(run.save_checkpoint("wrong", wrong), "maze-hierarchy")
