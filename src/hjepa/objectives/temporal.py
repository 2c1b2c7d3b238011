"""Temporal objectives on sequences of latent states.

* ``temporal_smoothness``: consecutive latent states should be close (slow features), a
  regulariser used by PLDM (Sobal et al., 2025) alongside VICReg-style terms.
* ``InverseDynamics`` / ``inverse_dynamics_loss``: predicting the action ``a_t`` from
  ``(s_t, s_{t+1})`` forces the encoder to keep what the agent controls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError


def temporal_smoothness(states: Tensor) -> Tensor:
    """Mean over batch and time of the squared L2 distance between consecutive states.

    Convention: sum over the feature dim ``D``, mean over ``B`` and the ``T - 1`` transitions,
    so the value does not shrink as ``D`` grows with fixed per-dim changes.

    Args:
        states: ``(B, T, D)`` with ``T >= 2``.
    Returns:
        scalar: ``mean_{b,t} || s[b, t+1] - s[b, t] ||^2``.

    Example: ``states = [[[0, 0], [1, 2], [1, 2]]]`` -> ``(5 + 0) / 2 = 2.5``.
    """
    if states.dim() != 3:
        raise InputError(f"states must have shape (B, T, D), got {tuple(states.shape)}")
    if states.shape[1] < 2:
        raise InputError(f"states needs T >= 2 steps, got shape {tuple(states.shape)}")
    diff = states[:, 1:] - states[:, :-1]
    return diff.pow(2).sum(dim=-1).mean()


class InverseDynamics(nn.Module):
    """MLP ``(s_t, s_{t+1}) -> a_t``.

    Args:
        state_dim: ``D`` of each state.
        action_dim: ``A`` of each action.
        hidden: width of the two hidden layers.
        activation: the nonlinearity after each hidden layer.
    """

    def __init__(self, state_dim: int, action_dim: int, hidden: int = 256, activation: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.net = nn.Sequential(
            nn.Linear(2 * state_dim, hidden),
            activation(),
            nn.Linear(hidden, hidden),
            activation(),
            nn.Linear(hidden, action_dim),
        )

    def forward(self, s_t: Tensor, s_next: Tensor) -> Tensor:
        """``s_t, s_next (..., D) -> predicted actions (..., A)``."""
        return self.net(torch.cat([s_t, s_next], dim=-1))


def inverse_dynamics_loss(model: InverseDynamics, states: Tensor, actions: Tensor) -> Tensor:
    """MSE between actions predicted from consecutive states and the true actions.

    Args:
        model: an ``InverseDynamics`` (or any module mapping ``(s_t, s_{t+1}) -> a_t``).
        states: ``(B, T + 1, D)``.
        actions: ``(B, T, A)``; ``actions[:, t]`` moved ``states[:, t]`` to ``states[:, t + 1]``.
    Returns:
        scalar: mean over ``B``, ``T`` and ``A`` of squared errors.
    """
    if states.dim() != 3 or actions.dim() != 3:
        raise InputError(
            f"states must be (B, T+1, D) and actions (B, T, A), got {tuple(states.shape)} and {tuple(actions.shape)}"
        )
    if states.shape[0] != actions.shape[0] or states.shape[1] != actions.shape[1] + 1:
        raise InputError(
            f"states (B, T+1, D) and actions (B, T, A) disagree: {tuple(states.shape)} vs {tuple(actions.shape)}"
        )
    predicted = model(states[:, :-1], states[:, 1:])
    return F.mse_loss(predicted, actions)
