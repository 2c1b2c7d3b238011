"""Online inference of level 2's latent z during an episode: a posterior over fixed draws.

Before an episode the agent cannot know what z is (in the stochastic maze: whether the unreliable
door is open), so it scores plans over ``Z`` draws from the prior
(:class:`~hjepa.planning.latent.LatentSamples`). While it acts it sees what its macro steps did.
:class:`LatentPosterior` turns that into evidence: after every level-1 decision, the last ``k``
decisions form one observed macro step ``(s2[t-k], u, s2[t])``, where ``u`` is the macro-action
encoder's mean for the ``k`` actions actually executed; each draw's energy is level 2's
prediction error for it,

    E_i += mean_d (Pred2(s2[t-k], u, z_i) - s2[t])^2,

and its weight is ``softmax(-E / temperature)`` over the draws (a uniform prior: the draws came
from the prior). Macro steps that every draw predicts alike (the agent far from the door) change
nothing; the step that pushes at a closed door moves the weight to the draws that predicted it.
Planning then minimises the cost expected under these weights.

Shapes: ``s2 (M, D2)``, one decision's level-1 action ``(M, A1)``, weights ``(M, Z)`` for the
``M`` episodes (rows) named.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from hjepa.errors import InputError


class LatentPosterior:
    """Per-episode weights over ``Z`` draws of z, updated from the macro steps seen.

    Args:
        step: level 2's ``(s2 (N, D2), u (N, U), z (N, Zd)) -> s2 (N, D2)``.
        encode: ``k`` level-1 actions ``(N, k * A1) -> u (N, U)`` (the encoder's mean).
        z: ``(Z, Zd)`` the draws the planner scores plans over.
        macro_steps: ``k``, level-1 decisions per macro step.
        temperature: energy scale of the softmax (smaller: evidence counts more).
        decay: each macro step seen multiplies the energies gathered so far by this factor first
            (1: remember the whole episode; below 1: evidence fades, so draws that fit ordinary motion
            slightly better do not take all the weight over an episode).

    Example:
        >>> posterior = LatentPosterior(high.step, lambda a: high.encode_actions(a)[0], z, 4, 0.05)  # doctest: +SKIP
        >>> posterior.reset(n); posterior.observe_state(rows, s2); posterior.observe_action(rows, a)  # doctest: +SKIP
        >>> posterior.weights(rows)  # (M, Z)  # doctest: +SKIP
    """

    def __init__(self, step: Callable[[Tensor, Tensor, Tensor], Tensor], encode: Callable[[Tensor], Tensor], z: Tensor,
                 macro_steps: int, temperature: float, decay: float = 1.0) -> None:
        if z.dim() != 2 or z.shape[0] < 1:
            raise InputError(f"z must be (Z, Zd) with Z >= 1 draws, got {tuple(z.shape)}")
        if isinstance(macro_steps, bool) or not isinstance(macro_steps, int) or macro_steps < 1:
            raise InputError(f"macro_steps must be an int >= 1, got {macro_steps!r}")
        if not temperature > 0:
            raise InputError(f"temperature must be > 0, got {temperature}")
        self.step, self.encode, self.z = step, encode, z
        if not 0.0 < decay <= 1.0:
            raise InputError(f"decay must be in (0, 1], got {decay}")
        self.k, self.temperature, self.decay = macro_steps, float(temperature), float(decay)
        self.energy: Tensor | None = None

    @property
    def draws(self) -> int:
        return self.z.shape[0]

    def reset(self, episodes: int) -> None:
        """Forget everything: ``episodes`` new episodes, uniform weights."""
        self.energy = torch.zeros(episodes, self.draws)
        self._states: Tensor | None = None  # (N, k, D2): s2 at the last k decisions, oldest first
        self._actions: Tensor | None = None  # (N, k, A1): the actions taken at them
        self._seen = torch.zeros(episodes, dtype=torch.long)  # decisions recorded per episode

    def _check(self, rows: Tensor) -> None:
        if self.energy is None:
            raise ValueError("LatentPosterior used before reset(episodes)")
        if rows.dim() != 1:
            raise InputError(f"rows must be (M,), got {tuple(rows.shape)}")

    def observe_state(self, rows: Tensor, s2: Tensor) -> None:
        """The level-2 states ``s2 (M, D2)`` of episodes ``rows`` now, before they act: completes one
        macro step for every row with ``k`` decisions behind it."""
        self._check(rows)
        if s2.dim() != 2 or s2.shape[0] != rows.shape[0]:
            raise InputError(f"s2 must be ({rows.shape[0]}, D2), got {tuple(s2.shape)}")
        if self._states is None:
            self._states = s2.new_zeros(len(self.energy), self.k, s2.shape[1])
        done = self._seen[rows] >= self.k  # (M,) rows with a whole macro step behind them
        full = rows[done]
        if len(full):
            start, s_now = self._states[full, 0], s2[done]
            u = self.encode(self._actions[full].reshape(len(full), -1))  # (F, U)
            n = self.draws
            pred = self.step(start.repeat_interleave(n, 0), u.repeat_interleave(n, 0),
                             self.z.to(s2).repeat(len(full), 1)).view(len(full), n, -1)
            error = (pred - s_now.unsqueeze(1)).pow(2).mean(-1).cpu()
            self.energy[full] = self.decay * self.energy[full] + error
        self._states[rows] = torch.cat([self._states[rows, 1:], s2.unsqueeze(1)], dim=1)

    def observe_action(self, rows: Tensor, action: Tensor) -> None:
        """The level-1 actions ``(M, A1)`` episodes ``rows`` took at this decision."""
        self._check(rows)
        if action.dim() != 2 or action.shape[0] != rows.shape[0]:
            raise InputError(f"action must be ({rows.shape[0]}, A1), got {tuple(action.shape)}")
        if self._actions is None:
            self._actions = action.new_zeros(len(self.energy), self.k, action.shape[1])
        self._actions[rows] = torch.cat([self._actions[rows, 1:], action.unsqueeze(1)], dim=1)
        self._seen[rows] += 1

    def weights(self, rows: Tensor) -> Tensor:
        """``(M, Z)`` the posterior over the draws for episodes ``rows`` (rows sum to 1)."""
        self._check(rows)
        return torch.softmax(-self.energy[rows] / self.temperature, dim=1)
