"""A cost that is one of several intrinsic costs per planning problem.

"Reach the other room" means the right room for an agent starting on the left and the left room
for one starting on the right: two intrinsic costs, differing only in the room of their region
term. A planner solves all ``B`` episodes in one call with one cost callable, so this wrapper
evaluates each candidate cost and keeps, for problem ``b``, the one ``choice[b]`` names. Every cost
must have the same terms and weights (so memory and critic see one consistent cost).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.errors import InputError


class PerProblemCost:
    """``costs[choice[b]]`` for problem ``b``; the same interface as :class:`IntrinsicCost`.

    Args:
        costs: ``K`` intrinsic costs with identical term names and weights.
        choice: ``(B,)`` long in ``[0, K)``.

    Shapes: trajectories ``states (B, S, T+1, D)``, ``actions (B, S, T, A) -> (B, S)``;
    per-step ``states (B, ..., T+1, D)``, ``actions (B, ..., T, A) -> (B, ..., T)``.
    """

    def __init__(self, costs: Sequence[IntrinsicCost], choice: Tensor) -> None:
        self.costs = tuple(costs)
        if not self.costs:
            raise InputError("PerProblemCost needs at least one cost")
        weights = self.costs[0].weights
        if any(cost.weights != weights for cost in self.costs[1:]):
            raise InputError(f"costs must share term names and weights, got {[c.weights for c in self.costs]}")
        if choice.dim() != 1 or choice.dtype != torch.long:
            raise InputError(f"choice must be a (B,) long tensor, got {choice.dtype} {tuple(choice.shape)}")
        if len(choice) and (int(choice.min()) < 0 or int(choice.max()) >= len(self.costs)):
            raise InputError(f"choice must index the {len(self.costs)} costs, got values {choice.unique().tolist()}")
        self.choice = choice.clone()

    @property
    def weights(self) -> dict[str, float]:
        return self.costs[0].weights

    def _select(self, values: list[Tensor]) -> Tensor:
        stacked = torch.stack(values)  # (K, B, ...)
        if stacked.shape[1] != len(self.choice):
            raise InputError(f"got {stacked.shape[1]} problems, the choice covers {len(self.choice)}")
        index = self.choice.to(stacked.device).view(1, -1, *([1] * (stacked.dim() - 2)))
        return stacked.gather(0, index.expand(1, *stacked.shape[1:]))[0]

    def terms(self, states: Tensor, actions: Tensor) -> dict[str, Tensor]:
        per_cost = [cost.terms(states, actions) for cost in self.costs]
        return {name: self._select([terms[name] for terms in per_cost]) for name in per_cost[0]}

    def step_terms(self, states: Tensor, actions: Tensor) -> dict[str, Tensor]:
        per_cost = [cost.step_terms(states, actions) for cost in self.costs]
        return {name: self._select([terms[name] for terms in per_cost]) for name in per_cost[0]}

    def step_cost(self, states: Tensor, actions: Tensor) -> Tensor:
        return self._select([cost.step_cost(states, actions) for cost in self.costs])

    def __call__(self, states: Tensor, actions: Tensor) -> Tensor:
        return self._select([cost(states, actions) for cost in self.costs])
