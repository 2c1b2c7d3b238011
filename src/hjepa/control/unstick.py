"""Noticing that an action did not move the agent: the rule of the agent's Mode-2 and of the
navigation controllers.

After each decision a controller remembers the encoded state and the state the world model
predicted for the action it chose. At the next decision of that episode, if the observed state
moved less than ``STUCK_RATIO`` times the predicted move, the action was stopped by something the
model lets it pass (a wall, a door's edge). Planning again from the same state would choose the
same push, so the episode takes one action of full norm in a random direction instead, and its
warm start is dropped. Everything is in representation space: no true position is read.

* :func:`stuck_mask` and :func:`random_kicks`: the rule itself, used by
  :class:`~hjepa.agent.agent.Agent` (which keeps its own memory of the last step);
* :class:`Unstick`: the same with a per-episode memory, for controllers that act on a changing
  subset of episodes (``hjepa.control.learned.LearnedMPC``, ``hjepa.control.hierarchical``).

Example::

    >>> unstick = Unstick(0.1, 1.0, torch.Generator().manual_seed(0))
    >>> unstick.reset(2)
    >>> state = torch.zeros(2, 3)
    >>> unstick.remember(torch.arange(2), state, state + 1.0)  # predicted to move
    >>> unstick.stuck(torch.arange(2), torch.tensor([[0.0, 0, 0], [1.0, 1, 1]])).tolist()
    [True, False]
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.errors import InputError

STUCK_RATIO = 0.1
"""An episode is stuck when it moved less than this fraction of the move the world model predicted."""


def stuck_mask(previous: Tensor, predicted: Tensor, state: Tensor, ratio: float = STUCK_RATIO) -> Tensor:
    """``(M,)`` bool: the move ``previous -> predicted`` was predicted (non-zero) and ``state`` moved
    less than ``ratio`` of it from ``previous``; all three ``(M, D)``."""
    expected = (predicted - previous).norm(dim=-1)
    moved = (state - previous).norm(dim=-1)
    return (expected > 0) & (moved < ratio * expected)


def random_kicks(action: Tensor, stuck: Tensor, max_norm: float, generator: torch.Generator | None) -> Tensor:
    """``action (M, A)`` with the ``stuck (M,)`` rows replaced by random directions of norm ``max_norm``
    (one ``randn`` draw of ``action``'s shape from ``generator``)."""
    direction = torch.randn(action.shape, generator=generator).to(action)
    kick = max_norm * direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.where(stuck.to(action.device)[:, None], kick, action)


class Unstick:
    """Per-episode memory of (state, predicted next state) and the random kick of a stuck episode.

    Args:
        ratio: an episode is stuck when it moved less than ``ratio`` times the predicted move.
        max_norm: norm of the kick action.
        generator: the kicks' directions.
    """

    def __init__(self, ratio: float = STUCK_RATIO, max_norm: float = 1.0,
                 generator: torch.Generator | None = None) -> None:
        if not 0 < ratio < 1 or not max_norm > 0:
            raise InputError(f"need 0 < ratio < 1 and max_norm > 0, got {ratio}, {max_norm}")
        self.ratio, self.max_norm, self.generator = ratio, max_norm, generator
        self._previous: Tensor | None = None
        self._predicted: Tensor | None = None
        self._known: Tensor | None = None

    def reset(self, n: int) -> None:
        """Forget everything: ``n`` new episodes."""
        self._previous = self._predicted = None
        self._known = torch.zeros(n, dtype=torch.bool)

    def stuck(self, rows: Tensor, state: Tensor) -> Tensor:
        """``(M,)`` bool for episodes ``rows (M,)`` now in ``state (M, D)``."""
        if self._known is None:
            raise ValueError("Unstick.stuck called before reset(n)")
        if self._previous is None:
            return torch.zeros(len(rows), dtype=torch.bool)
        previous, predicted = self._previous[rows].to(state), self._predicted[rows].to(state)
        return (self._known[rows] & stuck_mask(previous, predicted, state, self.ratio).cpu())

    def kick(self, action: Tensor, stuck: Tensor) -> Tensor:
        """``action (M, A)`` with the stuck rows replaced by a random action of norm ``max_norm``."""
        return random_kicks(action, stuck, self.max_norm, self.generator)

    def remember(self, rows: Tensor, state: Tensor, predicted: Tensor) -> None:
        """Store the state ``(M, D)`` each episode ``rows (M,)`` acted in and the one predicted ``(M, D)``."""
        if self._known is None:
            raise ValueError("Unstick.remember called before reset(n)")
        n = len(self._known)
        if self._previous is None:
            self._previous = state.new_zeros(n, state.shape[-1])
            self._predicted = state.new_zeros(n, state.shape[-1])
        self._previous[rows], self._predicted[rows] = state.detach(), predicted.detach()
        self._known[rows] = True
