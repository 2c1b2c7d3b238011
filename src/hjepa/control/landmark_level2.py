"""A landmark graph for the maze's level 2: the learned level-2 states of the reward-free walks.

:func:`maze_landmark_graph` renders and encodes the walks' positions once per level-1 step,
maps them to level 2 with the learned ``abstract`` and builds a
:class:`~hjepa.planning.landmarks.LandmarkGraph` whose edges are the walks' macro steps (``k``
level-1 steps). :class:`LandmarkLevel2` stands in for the level-2 model in
:class:`~hjepa.control.hierarchical.HierarchicalMPC`: the same learned abstraction, and
:func:`~hjepa.planning.landmarks.teleport` as dynamics, so level 2 plans with a
:class:`~hjepa.planning.landmarks.LandmarkPlanner` and level 1 follows the landmarks as subgoals.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hjepa.data.trajectories import Trajectories
from hjepa.envs.maze import Maze
from hjepa.errors import InputError
from hjepa.planning.landmarks import LandmarkGraph, teleport
from hjepa.world.hierarchy import HighLevelModel
from hjepa.world.model import JEPAWorldModel


class LandmarkLevel2(nn.Module):
    """Level 2 for landmark planning: ``abstract`` of the learned level 2, dynamics :func:`teleport`."""

    latent_dim = 0

    def __init__(self, high: HighLevelModel) -> None:
        super().__init__()
        self.high = high
        self.low_state_dim, self.low_action_dim = high.low_state_dim, high.low_action_dim
        self.z_scale = torch.zeros(0)

    def abstract(self, s1: Tensor) -> Tensor:
        """``(..., D1) -> (..., D2)``, the learned level-2 state."""
        return self.high.abstract(s1)

    def step(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        """``(M, D2), (M, D2) -> (M, D2)``: the action is the next landmark's state."""
        return teleport(state, action)


def walk_states(env: Maze, low: JEPAWorldModel, high: HighLevelModel, walks: Trajectories,
                chunk: int = 4096) -> Tensor:
    """Level-2 states of ``walks`` at every level-1 step (every ``frameskip`` environment steps):
    ``(E, T // frameskip + 1, D2)``."""
    frameskip = low.action_dim // 2
    positions = walks.positions[:, ::frameskip]  # (E, T', 2)
    e, t = positions.shape[:2]
    flat = positions.reshape(-1, 2)
    layout = walks.layout().index(torch.arange(e).repeat_interleave(t))
    states = []
    with torch.no_grad():
        for rows in torch.arange(len(flat)).split(chunk):
            frames = env.render(flat[rows], layout.index(rows))
            states.append(high.abstract(low.encode(frames)))
    return torch.cat(states).view(e, t, -1)


def maze_landmark_graph(env: Maze, low: JEPAWorldModel, high: HighLevelModel, walks: Trajectories,
                        count: int, min_count: int, max_ratio: float, generator: torch.Generator) -> LandmarkGraph:
    """The landmark graph of ``walks`` in level 2's space, one edge per macro step seen (module docstring;
    ``count``, ``min_count``, ``max_ratio``: :meth:`~hjepa.planning.landmarks.LandmarkGraph.from_walks`)."""
    if env.config.layout != "fixed" or env.config.unreliable:
        raise InputError("a landmark graph remembers one maze: it needs the fixed layout without unreliable doors")
    return LandmarkGraph.from_walks(walk_states(env, low, high, walks), high.macro_steps, count, min_count, generator,
                                    max_ratio=max_ratio)
