"""A learned temporal distance at level 2: how many macro steps from one abstract state to another.

Level 2's predictor can be wrong in a way a planner exploits (a macro step that passes through a
wall). A learned distance ``d(s2, g2)`` between level-2 states gives level 2 two things the
predictor alone does not (:mod:`hjepa.planning.distance` uses both):

* a **cost-to-go**: the number of macro steps still needed to reach the goal, walls included,
  so a short search ahead is enough however far the goal is;
* a **reachability signal**: a predicted macro step ``s2 -> s2'`` is believable only when
  ``d(s2, s2') <= 1``; a step the predictor lets through a wall is many steps long by ``d``.

It is learned from the reward-free walks alone (no position, no map), offline, by temporal
differences over macro steps (``gap`` level-1 steps) with goals relabelled from the data:

    y = 1 + d_target(s2[t + gap], g)                  one more macro step than from the next state
    y = min(y, (t_g - t) / gap)                       goal on the same walk, t_g steps ahead: the walk's own time
    L = mean(w(y - d) * (y - d)^2),  w(u) = tau if u < 0 else 1 - tau

The asymmetric (expectile) weight with ``tau`` near 1 pulls ``d`` to the low end of the targets,
i.e. towards the *shortest* route the walks' transitions can chain together, not the random walk's
long average. ``d_target`` is a slowly moving average of ``d`` (stable bootstrapping); goals
drawn from other walks of the same maze let the targets stitch routes no single walk took (walks
in different mazes say nothing about each other: ``layouts`` names each walk's maze).

Shapes: walk states ``(E, T+1, D)``, ``d(s (..., D), g (..., D)) -> (...)``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError, NonFiniteLoss
from hjepa.nn.mlp import mlp


class TemporalDistance(nn.Module):
    """``d(s, g) >= 0`` in macro steps, in one of two forms:

    * ``embed_dim = 0``: an MLP on ``[s, g, s - g]`` with a softplus output (any function of the pair);
    * ``embed_dim > 0``: ``||phi(s) - phi(g)||``, the distance between learned embeddings (a metric:
      symmetric, with the triangle inequality). A planner that measures many states against a few
      targets embeds each state once (:meth:`to_targets`), which makes it several times cheaper.

    Example:
        >>> d = TemporalDistance(state_dim=8, hidden=64, layers=3)
        >>> d(torch.zeros(5, 8), torch.ones(5, 8)).shape
        torch.Size([5])
        >>> TemporalDistance(8, 64, 3, embed_dim=16).to_targets(torch.zeros(2, 4, 8), torch.ones(3, 2, 8)).shape
        torch.Size([3, 2, 4])
    """

    def __init__(self, state_dim: int, hidden: int, layers: int, embed_dim: int = 0) -> None:
        super().__init__()
        if state_dim < 1 or hidden < 1 or layers < 2 or embed_dim < 0:
            raise InputError(f"need state_dim >= 1, hidden >= 1, layers >= 2, embed_dim >= 0; got {state_dim}, {hidden}, "
                             f"{layers}, {embed_dim}")
        self.state_dim, self.embed_dim = state_dim, embed_dim
        self._sizes = {"hidden": hidden, "layers": layers, "embed_dim": embed_dim}
        self.net = mlp(state_dim, hidden, embed_dim, layers) if embed_dim else mlp(3 * state_dim, hidden, 1, layers)

    def _check(self, *tensors: Tensor) -> None:
        for t in tensors:
            if t.shape[-1] != self.state_dim:
                raise InputError(f"temporal distance takes {self.state_dim}-dim states, got {t.shape[-1]}")

    def forward(self, state: Tensor, goal: Tensor) -> Tensor:
        """``(..., D), (..., D) -> (...)`` macro steps from ``state`` to ``goal``."""
        self._check(state, goal)
        if self.embed_dim:
            return (self.net(state) - self.net(goal)).pow(2).sum(-1).add(1e-6).sqrt()
        state, goal = torch.broadcast_tensors(state, goal)
        return F.softplus(self.net(torch.cat([state, goal, state - goal], dim=-1))).squeeze(-1)

    def to_targets(self, states: Tensor, targets: Tensor) -> Tensor:
        """Every state against each of ``K`` targets: ``states (B, *N, D), targets (K, B, D) -> (K, B, *N)``."""
        self._check(states, targets)
        shape = (targets.shape[0], targets.shape[1]) + (1,) * (states.dim() - 2) + (targets.shape[-1],)
        if not self.embed_dim:
            return torch.stack([self(states, t.view(shape[1:]).expand_as(states)) for t in targets])
        embedded = self.net(states).unsqueeze(0)  # (1, B, *N, E): each state once
        return (embedded - self.net(targets).view(*shape[:-1], -1)).pow(2).sum(-1).add(1e-6).sqrt()

    def config(self) -> dict:
        """Constructor arguments (for checkpoints)."""
        return {"state_dim": self.state_dim, **self._sizes}


@dataclass(frozen=True)
class DistanceTrainConfig:
    """How :func:`train_temporal_distance` fits ``d``."""

    steps: int = 20_000
    """Gradient steps."""
    batch: int = 512
    """(state, next state, goal) triples per step."""
    lr: float = 3e-4
    """AdamW learning rate."""
    expectile: float = 0.9
    """Weight of targets below the current estimate (0.5: the walks' mean; near 1: the shortest route)."""
    target_ema: float = 0.995
    """Per-step decay of the target network's moving average."""
    same_walk: float = 0.4
    """Fraction of goals drawn later on the same walk (the rest: any state of a walk in the same maze)."""
    max_distance: float = 64.0
    """Targets are clipped to this many macro steps."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 2:
            raise InputError(f"need steps >= 1 and batch >= 2, got {self.steps}, {self.batch}")
        if not (self.lr > 0 and 0.5 <= self.expectile < 1 and 0 <= self.target_ema < 1):
            raise InputError(f"need lr > 0, expectile in [0.5, 1), target_ema in [0, 1); got {self.lr}, "
                             f"{self.expectile}, {self.target_ema}")
        if not (0 <= self.same_walk <= 1 and self.max_distance > 1):
            raise InputError(f"need same_walk in [0, 1] and max_distance > 1, got {self.same_walk}, {self.max_distance}")


class SameMaze:
    """Draws, for each walk, another walk in the same maze: ``layouts (E,)`` int ids (equal id = same maze)."""

    def __init__(self, layouts: Tensor) -> None:
        if layouts.dim() != 1:
            raise InputError(f"layouts must be (E,) maze ids, got {tuple(layouts.shape)}")
        self.order = layouts.argsort(stable=True)  # walks grouped by maze
        _, inverse, counts = layouts.unique(return_inverse=True, return_counts=True)
        first = torch.cat([counts.new_zeros(1), counts.cumsum(0)[:-1]])
        self.first, self.count = first[inverse], counts[inverse]  # (E,) each walk's group in ``order``

    def __call__(self, walk: Tensor, generator: torch.Generator) -> Tensor:
        """``(B,)`` walk indices -> ``(B,)`` a random walk of the same maze each."""
        pick = (torch.rand(walk.shape, generator=generator) * self.count[walk]).long()
        return self.order[self.first[walk] + pick]


def distance_targets(target: TemporalDistance, walks: Tensor, gap: int, batch: int, same_walk: float,
                     max_distance: float, same_maze: SameMaze, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """One batch: states ``(B, D)``, goals ``(B, D)`` and their targets ``(B,)`` in macro steps (module docstring)."""
    length = walks.shape[1]
    walk = torch.randint(0, walks.shape[0], (batch,), generator=generator)
    t = torch.randint(0, length - gap, (batch,), generator=generator)
    own = torch.rand(batch, generator=generator) < same_walk
    ahead = (torch.rand(batch, generator=generator) * (length - t)).long()  # 0 .. length-1-t
    goal_walk = torch.where(own, walk, same_maze(walk, generator))
    goal_t = torch.where(own, t + ahead, torch.randint(0, length, (batch,), generator=generator))
    state, after, goal = walks[walk, t], walks[walk, t + gap], walks[goal_walk, goal_t]
    with torch.no_grad():
        y = 1.0 + target(after, goal)
    walked = ahead.to(y.dtype) / gap
    y = torch.where(own, torch.minimum(y, walked), y).clamp(max=max_distance)
    return state, goal, y


def train_temporal_distance(model: TemporalDistance, walks: Tensor, gap: int, config: DistanceTrainConfig,
                            generator: torch.Generator, layouts: Tensor | None = None,
                            progress: Callable[[int, float], None] | None = None) -> dict:
    """Fit ``model`` to the walks' level-2 states ``(E, T+1, D)`` (``gap`` level-1 steps per macro step).

    ``layouts (E,)``: each walk's maze id (None: one maze for all). Returns ``{"loss": last loss,
    "seconds": ..., "steps": ...}``. ``progress(step, loss)`` is called every 500 steps.
    """
    if walks.dim() != 3 or walks.shape[-1] != model.state_dim:
        raise InputError(f"walk states must be (E, T+1, {model.state_dim}), got {tuple(walks.shape)}")
    if not 1 <= gap < walks.shape[1]:
        raise InputError(f"gap must be in [1, {walks.shape[1] - 1}] level-1 steps, got {gap}")
    if not torch.isfinite(walks).all():
        raise InputError("walk states contain NaN or inf")
    if layouts is not None and layouts.shape != walks.shape[:1]:
        raise InputError(f"layouts must be ({walks.shape[0]},), one maze id per walk, got {tuple(layouts.shape)}")
    walks = walks.detach()
    same_maze = SameMaze(layouts if layouts is not None else torch.zeros(walks.shape[0], dtype=torch.long))
    target = copy.deepcopy(model).requires_grad_(False)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    start, loss_value = time.perf_counter(), float("nan")
    model.train()
    for step in range(1, config.steps + 1):
        state, goal, y = distance_targets(target, walks, gap, config.batch, config.same_walk, config.max_distance,
                                           same_maze, generator)
        error = y - model(state, goal)
        weight = torch.where(error < 0, config.expectile, 1.0 - config.expectile)
        loss = (weight * error.pow(2)).mean()
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"temporal distance loss is {loss.item()} at step {step}")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            for p_target, p in zip(target.parameters(), model.parameters()):
                p_target.lerp_(p, 1.0 - config.target_ema)
        if step % 500 == 0 or step == config.steps:
            loss_value = float(loss.detach())
            if progress is not None:
                progress(step, loss_value)
    model.eval()
    return {"loss": loss_value, "seconds": time.perf_counter() - start, "steps": config.steps}
