"""Landmark graphs and the landmark planner on problems with known answers: a U-shaped corridor
whose two arms are close in space but joined only at the bottom, so the only true route is around."""

from __future__ import annotations

import pytest
import torch

from hjepa.planning.base import rollout
from hjepa.planning.hierarchical import HierarchicalPlanner, TwoLevelProblem
from hjepa.planning.landmarks import UNREACHABLE, LandmarkGraph, LandmarkPlanner, farthest_points, nearest_two, teleport
from hjepa.planning.latent import deterministic_cost
from hjepa.planning.mppi import MPPI


def u_corridor() -> torch.Tensor:
    """Cells of a U: left arm x = 0 going down y = 6..0, bottom y = 0 for x = 0..2, right arm x = 2 up
    to y = 6. The arms' tops (0, 6) and (2, 6) are 2 apart in space, 16 cells apart along the U."""
    left = [(0.0, float(y)) for y in range(6, -1, -1)]
    bottom = [(1.0, 0.0)]
    right = [(2.0, float(y)) for y in range(0, 7)]
    return torch.tensor(left + bottom + right)  # (15, 2)


def walks_along(cells: torch.Tensor, repeats: int = 3) -> torch.Tensor:
    """Walks there and back along the cells: ``(2 * repeats, 15, 2)``."""
    return torch.stack([cells, cells.flip(0)] * repeats)


def test_farthest_points_cover_and_nearest_two_ratio():
    points = torch.tensor([[0.0], [0.1], [5.0], [10.0], [10.1]])
    picked = farthest_points(points, 3, torch.Generator().manual_seed(0))
    assert sorted(points[picked].round().view(-1).tolist()) == [0.0, 5.0, 10.0]
    index, ratio = nearest_two(torch.tensor([[0.0], [2.5]]), torch.tensor([[0.0], [5.0]]))
    assert index.tolist() == [0, 0] and ratio[0] == 0 and ratio[1] == pytest.approx(1.0)


def test_the_graph_goes_around_the_u_not_across_it():
    cells = u_corridor()
    graph = LandmarkGraph.from_walks(walks_along(cells), gap=1, count=len(cells), min_count=1,
                                     generator=torch.Generator().manual_seed(0))
    top_left, top_right = graph.nearest(cells[[0, -1]])
    assert torch.allclose(graph.landmarks[torch.stack([top_left, top_right])], cells[[0, -1]])
    assert int(graph.hops[top_left, top_right]) == len(cells) - 1  # 14 steps around, though 2 apart in space
    path = graph.paths(top_left.view(1), horizon=len(cells))[0, top_right]  # (H+1,)
    assert torch.allclose(graph.landmarks[path[: len(cells)]], cells)  # the U, cell by cell
    assert (path[len(cells) - 1:] == top_right).all()  # arrived: stays


def test_gap_sets_the_edge_length_and_unreachable_pairs_are_marked():
    cells = u_corridor()
    one_way = cells.unsqueeze(0)  # a single walk down the U: no way back
    graph = LandmarkGraph.from_walks(one_way, gap=2, count=len(cells), min_count=1, generator=torch.Generator())
    start, end = graph.nearest(cells[[0, -1]])
    assert int(graph.hops[start, end]) == 7  # 14 cells in steps of 2
    assert int(graph.hops[end, start]) == UNREACHABLE
    stay = graph.paths(end.view(1), horizon=3)[0, start]
    assert (stay == end).all()  # no way there: the path stays put


def test_ambiguous_ends_are_left_out_by_max_ratio():
    landmarks_walk = torch.tensor([[[0.0], [1.0]], [[1.0], [0.0]]])  # walks between 0 and 1, and back
    bridge = torch.tensor([[[1.0], [1.45], [2.0]]])  # steps through 1.45, halfway between 1 and 2 (ratio ~0.8)
    ends = torch.tensor([[[2.0], [2.0]]])
    walks = [landmarks_walk, bridge, ends]
    padded = torch.cat([torch.cat([w, w[:, -1:].expand(-1, 3 - w.shape[1], -1)], dim=1) for w in walks])  # (4, 3, 1)
    loose = LandmarkGraph.from_walks(padded, 1, 3, 1, torch.Generator().manual_seed(0), max_ratio=1.0)
    strict = LandmarkGraph.from_walks(padded, 1, 3, 1, torch.Generator().manual_seed(0), max_ratio=0.5)
    assert sorted(loose.landmarks.view(-1).tolist()) == [0.0, 1.0, 2.0]
    one, two = loose.nearest(torch.tensor([[1.0], [2.0]]))
    assert int(loose.hops[one, two]) == 1  # 1.45 counts as landmark 1: an edge 1 -> 2
    one_s, two_s = strict.nearest(torch.tensor([[1.0], [2.0]]))
    assert int(strict.hops[one_s, two_s]) == UNREACHABLE  # 1.45 is ambiguous (ratio 0.82): no edge


def test_landmark_planner_reaches_the_goal_around_the_u():
    cells = u_corridor()
    graph = LandmarkGraph.from_walks(walks_along(cells), 1, len(cells), 1, torch.Generator().manual_seed(0))
    planner = LandmarkPlanner(graph)
    s0, goal = cells[[0]], cells[[-1]]  # top of the left arm to top of the right arm
    result = planner.plan(s0, teleport, deterministic_cost(goal), horizon=20)
    assert result.actions.shape == (1, 20, 2)
    assert torch.allclose(result.actions[0, 0], cells[1])  # first step: down the left arm, not across
    path = rollout(s0, result.actions.unsqueeze(1), teleport)[0, 0]  # (21, 2)
    assert torch.allclose(path[len(cells) - 1], goal[0]) and int(result.info["hops"][0]) == len(cells) - 1
    assert float(result.cost[0]) == pytest.approx(0.0)
    # a horizon too short to arrive: every 3-hop path ends farther from the goal than the start (the
    # arms are 2 apart), so by the goal cost staying is best; hence plan.landmark_horizon covers the maze
    short = planner.plan(s0, teleport, deterministic_cost(goal), horizon=3)
    assert torch.allclose(short.actions[0], s0.expand(3, 2)) and int(short.info["hops"][0]) == 0


def test_hierarchical_planner_with_landmarks_sets_the_next_landmark_as_subgoal():
    cells = u_corridor()
    graph = LandmarkGraph.from_walks(walks_along(cells), 1, len(cells), 1, torch.Generator().manual_seed(0))
    low = MPPI(2, -1.0, 1.0, samples=16, iterations=1)
    planner = HierarchicalPlanner(LandmarkPlanner(graph), low, high_horizon=20, low_horizon=2)
    problem = TwoLevelProblem(lambda s, a: s + a, teleport)
    result = planner.plan(cells[[0]], cells[[-1]], problem, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(result.state.subgoal[0], cells[1]) and not bool(result.state.final[0])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="walks"):
        LandmarkGraph.from_walks(torch.zeros(3, 2), 1, 2, 1, torch.Generator())
    with pytest.raises(ValueError, match="NaN"):
        LandmarkGraph.from_walks(torch.full((1, 4, 2), float("nan")), 1, 2, 1, torch.Generator())
    with pytest.raises(ValueError, match="gap"):
        LandmarkGraph.from_walks(torch.zeros(1, 4, 2), 0, 2, 1, torch.Generator())
    with pytest.raises(ValueError, match="adjacency"):
        LandmarkGraph(torch.zeros(3, 2), torch.zeros(2, 2, dtype=torch.bool))
    graph = LandmarkGraph(torch.tensor([[0.0], [1.0]]), torch.tensor([[False, True], [True, False]]))
    with pytest.raises(ValueError, match="states"):
        graph.nearest(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="prefer_shorter"):
        LandmarkPlanner(graph, prefer_shorter=-1.0)
