"""Action-conditioned predictors: s[t+1] = Pred(s[t], a[t])."""

from __future__ import annotations

import torch
from torch import nn

from hjepa.nn.mlp import mlp


class ResidualActionPredictor(nn.Module):
    """Predicts the next state as ``s + f([s, a])`` with an MLP ``f``.

    The residual form makes "nothing changes" the easy default, so the network spends its
    capacity on what an action does (including being stopped by a wall).

    Shapes: state (B, D), action (B, A) -> next state (B, D). Leading dims may be any (..., D).
    """

    def __init__(self, state_dim: int, action_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.net = mlp(state_dim + action_dim, hidden, state_dim, layers)

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return state + self.net(torch.cat([state, action], dim=-1))
