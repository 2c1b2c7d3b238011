"""Level-2 planning by search over remembered states: a landmark graph of the reward-free walks.

A learned level-2 predictor can be wrong in a way a search exploits: among many macro-actions
over many steps, the search finds the few where the model lets a move pass through a wall. This
module plans level 2 on transitions that *happened* instead (a semi-parametric, memory-based
level 2, in the spirit of topological-memory planners):

* **landmarks**: ``N`` level-2 states picked from the walks' states by farthest-point sampling
  (they cover the visited part of the level-2 space evenly);
* **edges**: landmark ``a -> b`` when the walks went from a state whose nearest landmark is ``a``
  to one whose nearest landmark is ``b`` in ``gap`` level-1 steps (one macro step when ``gap = k``),
  at least ``min_count`` times;
* **plans**: shortest paths in hops (macro steps), all pairs, computed once.

:class:`LandmarkPlanner` is an ordinary :class:`~hjepa.planning.base.Planner`: its "action" is the
next landmark's state and the level-2 dynamics is :func:`teleport` (the next state *is* the
action), so ``rollout`` of a plan is the landmark path. It scores the shortest path to every
landmark with the problem's own goal cost and returns the best (shortest among near-ties), so
the goal cost decides where to go and the graph decides how.

Example (a corridor 0 - 1 - 2 - 3 walked to and fro)::

    >>> walk = torch.tensor([[0.0], [1.0], [2.0], [3.0], [2.0], [1.0], [0.0]]).unsqueeze(0)  # (1, 7, 1)
    >>> graph = LandmarkGraph.from_walks(walk, gap=1, count=4, min_count=1, generator=torch.Generator())
    >>> int(graph.hops[graph.nearest(torch.tensor([[0.0]]))[0], graph.nearest(torch.tensor([[3.0]]))[0]])
    3
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.planning.base import Dynamics, PlanResult, TrajectoryCost, check_plan_inputs

UNREACHABLE = -1
"""``hops`` entry for a pair with no path."""


def teleport(state: Tensor, action: Tensor) -> Tensor:
    """Level-2 dynamics of landmark plans: the action is the next state, ``(B, S, D) -> (B, S, D)``."""
    return action


def farthest_points(points: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """Indices ``(count,)`` of points ``(M, D)`` picked greedily, each the farthest from those already
    picked (the first at random): an even cover of the points."""
    first = int(torch.randint(0, points.shape[0], (1,), generator=generator))
    picked = [first]
    dist = (points - points[first]).pow(2).sum(-1)  # (M,) squared distance to the nearest picked point
    for _ in range(count - 1):
        nxt = int(dist.argmax())
        picked.append(nxt)
        dist = torch.minimum(dist, (points - points[nxt]).pow(2).sum(-1))
    return torch.tensor(picked)


def nearest_two(points: Tensor, centres: Tensor, chunk: int = 8192) -> tuple[Tensor, Tensor]:
    """Nearest centre ``(M,)`` int64 of each point and the ratio ``(M,)`` of its distance to that of
    the second nearest (near 1: the point lies between two centres, its assignment is ambiguous)."""
    index, ratio = [], []
    for part in points.split(chunk):
        dist, idx = torch.cdist(part, centres).topk(2, dim=1, largest=False)  # (m, 2) ascending
        index.append(idx[:, 0])
        ratio.append(dist[:, 0] / dist[:, 1].clamp_min(1e-12))
    return torch.cat(index), torch.cat(ratio)


def _hop_distances(adjacency: Tensor) -> Tensor:
    """All-pairs shortest path lengths in hops of a directed graph ``(N, N) bool`` by breadth-first
    expansion from every node at once: ``(N, N)`` int64, :data:`UNREACHABLE` where there is no path."""
    n = adjacency.shape[0]
    hops = torch.full((n, n), UNREACHABLE, dtype=torch.long)
    hops.fill_diagonal_(0)
    frontier = torch.eye(n, dtype=torch.bool)
    step, adj = 0, adjacency.float()
    while frontier.any():
        step += 1
        frontier = ((frontier.float() @ adj) > 0) & (hops == UNREACHABLE)
        hops[frontier] = step
    return hops


def _next_hops(adjacency: Tensor, hops: Tensor) -> Tensor:
    """``next[i, j]``: the first node after ``i`` on a shortest path to ``j`` (``i`` itself when
    ``i == j`` or ``j`` is unreachable, so following it stays put): ``(N, N)`` int64."""
    n = adjacency.shape[0]
    dist = torch.where(hops == UNREACHABLE, torch.full_like(hops, n + 1), hops)  # (N, N)
    nxt = torch.arange(n).view(n, 1).expand(n, n).clone()  # row i: stay at i by default
    for i in range(n):
        neighbours = adjacency[i].nonzero().squeeze(-1)
        reach = hops[i] > 0
        if neighbours.numel() == 0 or not reach.any():
            continue
        best = dist[neighbours].argmin(dim=0)  # (N,): the neighbour nearest to each j
        nxt[i, reach] = neighbours[best[reach]]
    return nxt


class LandmarkGraph:
    """Landmarks, the transitions seen between them, and all shortest paths (module docstring).

    Args:
        landmarks: ``(N, D)`` level-2 states.
        adjacency: ``(N, N)`` bool, ``adjacency[a, b]``: an edge ``a -> b`` (no self loops).

    Attributes:
        hops: ``(N, N)`` int64 shortest path lengths (:data:`UNREACHABLE` where none).
        next_hop: ``(N, N)`` int64, see :func:`_next_hops`.
    """

    def __init__(self, landmarks: Tensor, adjacency: Tensor) -> None:
        if landmarks.dim() != 2 or landmarks.shape[0] < 2:
            raise InputError(f"landmarks must be (N, D) with N >= 2, got {tuple(landmarks.shape)}")
        n = landmarks.shape[0]
        if adjacency.shape != (n, n) or adjacency.dtype != torch.bool:
            raise InputError(f"adjacency must be a ({n}, {n}) bool tensor, got {tuple(adjacency.shape)} {adjacency.dtype}")
        if not torch.isfinite(landmarks).all():
            raise InputError("landmarks contain NaN or inf")
        self.landmarks = landmarks.float()
        self.adjacency = adjacency & ~torch.eye(n, dtype=torch.bool)
        self.hops = _hop_distances(self.adjacency)
        self.next_hop = _next_hops(self.adjacency, self.hops)

    @classmethod
    def from_walks(cls, walks: Tensor, gap: int, count: int, min_count: int, generator: torch.Generator,
                   max_points: int = 50_000, max_ratio: float = 1.0) -> "LandmarkGraph":
        """Build from level-2 states along walks.

        Args:
            walks: ``(W, T+1, D)`` states of ``W`` walks, one per level-1 step.
            gap: level-1 steps between the two ends of a transition (``k`` for one macro step).
            count: landmarks ``N`` (at most the number of states).
            min_count: transitions needed for an edge (2 or more ignores a single odd one).
            generator: the random first landmark and the subsample of states they are picked from.
            max_points: states the landmarks are picked from (a random subset beyond that).
            max_ratio: a transition counts only if both its ends are unambiguous, each at most this
                fraction of the distance to its second nearest landmark (1: every transition). A state
                by a thin wall can be nearer to a landmark on the other side; a transition from it
                would be an edge through the wall.
        """
        if walks.dim() != 3 or walks.shape[1] <= gap:
            raise InputError(f"walks must be (W, T+1, D) with T+1 > gap = {gap}, got {tuple(walks.shape)}")
        if gap < 1 or count < 2 or min_count < 1:
            raise InputError(f"need gap >= 1, count >= 2, min_count >= 1; got {gap}, {count}, {min_count}")
        if not torch.isfinite(walks).all():
            raise InputError("walks contain NaN or inf")
        points = walks.reshape(-1, walks.shape[-1]).float()
        if points.shape[0] > max_points:
            points = points[torch.randperm(points.shape[0], generator=generator)[:max_points]]
        landmarks = points[farthest_points(points, min(count, points.shape[0]), generator)]
        n = landmarks.shape[0]
        assigned, ratio = nearest_two(walks.reshape(-1, walks.shape[-1]).float(), landmarks)
        assigned, clear = assigned.view(walks.shape[:2]), (ratio <= max_ratio).view(walks.shape[:2])  # (W, T+1)
        keep = (clear[:, :-gap] & clear[:, gap:]).reshape(-1)
        a, b = assigned[:, :-gap].reshape(-1)[keep], assigned[:, gap:].reshape(-1)[keep]
        counts = torch.bincount(a * n + b, minlength=n * n).view(n, n)
        return cls(landmarks, counts >= min_count)

    def __len__(self) -> int:
        return self.landmarks.shape[0]

    def nearest(self, states: Tensor) -> Tensor:
        """Nearest landmark of each state ``(B, D)``: ``(B,)`` int64."""
        if states.dim() != 2 or states.shape[1] != self.landmarks.shape[1]:
            raise InputError(f"states must be (B, {self.landmarks.shape[1]}), got {tuple(states.shape)}")
        return nearest_two(states.float(), self.landmarks)[0]

    def paths(self, start: Tensor, horizon: int) -> Tensor:
        """Shortest paths from ``start (B,)`` to every landmark: ``(B, N, horizon + 1)`` landmark
        indices (step 0 the start; a path that arrives, or has no way, stays where it is)."""
        n = len(self)
        target = torch.arange(n).expand(start.shape[0], n)
        node = start.view(-1, 1).expand(-1, n)
        steps = [node]
        for _ in range(horizon):
            node = self.next_hop[node, target]
            steps.append(node)
        return torch.stack(steps, dim=2)


class LandmarkPlanner:
    """A :class:`~hjepa.planning.base.Planner` over landmark paths (module docstring).

    Args:
        graph: the landmarks and their shortest paths.
        prefer_shorter: among paths whose cost is within this relative amount of the best, the
            one whose end is the fewest hops away wins (the cost is a closest approach, so a path
            that goes on past the goal costs the same as the one that stops there).

    ``plan(s0 (B, D), dynamics, cost, horizon)``: ``dynamics`` is not called (the graph is the
    model); for ``rollout`` of the plan to be its landmark path, the problem's level-2 dynamics
    must be :func:`teleport`, since the actions are landmark states. ``actions (B, horizon, D)``: the
    landmarks of the best path after the start; ``info["landmarks"] (B, horizon + 1)`` their
    indices and ``info["hops"] (B,)`` the hops to its end (:data:`UNREACHABLE` if unreachable).
    ``init`` and ``generator`` are accepted for the protocol and not used: the search is exhaustive
    and deterministic, so there is nothing to warm-start (``warm_start`` is None).
    """

    def __init__(self, graph: LandmarkGraph, prefer_shorter: float = 0.05) -> None:
        if prefer_shorter < 0:
            raise InputError(f"prefer_shorter must be >= 0, got {prefer_shorter}")
        self.graph, self.prefer_shorter = graph, prefer_shorter

    def plan(self, s0: Tensor, dynamics: Dynamics, cost: TrajectoryCost, horizon: int, init: Tensor | None = None,
             generator: torch.Generator | None = None) -> PlanResult:
        check_plan_inputs(s0, horizon, None, s0.shape[-1] if s0.dim() == 2 else 0)
        start = self.graph.nearest(s0)  # (B,)
        nodes = self.graph.paths(start, horizon)  # (B, N, H+1)
        states = self.graph.landmarks.to(s0)[nodes]  # (B, N, H+1, D)
        states[:, :, 0] = s0.unsqueeze(1)
        actions = states[:, :, 1:]
        costs = cost(states, actions)  # (B, N)
        costs = torch.where(torch.isnan(costs), torch.full_like(costs, float("inf")), costs)
        hops = self.graph.hops[start]  # (B, N) hops to each path's end
        best = costs.min(dim=1, keepdim=True).values
        near = costs <= best + self.prefer_shorter * best.abs()
        far = len(self.graph) + 1  # longer than any path
        length = torch.where(hops >= 0, hops, torch.full_like(hops, far))
        choice = torch.where(near, length, torch.full_like(hops, far + 1)).argmin(dim=1)  # (B,)
        rows = torch.arange(s0.shape[0])
        chosen = actions[rows, choice]  # (B, H, D)
        return PlanResult(chosen, costs[rows, choice],
                          {"iterations": 1, "best_cost_history": costs[rows, choice].unsqueeze(0),
                           "mean_cost_history": costs.mean(dim=1).unsqueeze(0),
                           "landmarks": nodes[rows, choice], "hops": hops[rows, choice]},
                          warm_start=None)
