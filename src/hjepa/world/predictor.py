"""Action-conditioned predictors: s[t+1] = Pred(s[t], a[t])."""

from __future__ import annotations

import torch
from torch import nn

from hjepa.errors import InputError
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


class ConvActionPredictor(nn.Module):
    """Predicts the next feature map as ``s + f([s, a])`` with a small convolutional net ``f``.

    The state is a flattened feature map ``(..., C*h*w)``; the action is broadcast to every cell
    as ``A`` extra channels. Every cell's update depends only on its neighbourhood, so the rule
    "move by the action unless a wall is in the way" is the same everywhere and is learnt once
    for all wall and door positions (an MLP on a global vector must learn it per layout).

    Shapes: state (..., C*h*w), action (..., A) -> next state (..., C*h*w).
    """

    def __init__(self, grid: tuple[int, int, int], action_dim: int, hidden: int, layers: int, groups: int = 8,
                 activation: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        if layers < 2:
            raise InputError(f"ConvActionPredictor needs at least 2 layers, got {layers}")
        channels, height, width = grid
        self.grid = grid
        self.state_dim = channels * height * width
        self.action_dim = action_dim
        body: list[nn.Module] = []
        prev = channels + action_dim
        for _ in range(layers - 1):
            body += [
                nn.Conv2d(prev, hidden, kernel_size=3, padding=1, bias=False),
                nn.GroupNorm(min(groups, hidden), hidden),
                activation(),
            ]
            prev = hidden
        body.append(nn.Conv2d(prev, channels, kernel_size=3, padding=1))
        self.net = nn.Sequential(*body)

    def forward(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        lead = state.shape[:-1]
        channels, height, width = self.grid
        fmap = state.reshape(-1, channels, height, width)  # (N, C, h, w)
        act = action.reshape(-1, self.action_dim, 1, 1).expand(-1, -1, height, width)  # (N, A, h, w)
        x = torch.cat([fmap, act], dim=1)
        if not self.training and not torch.is_autocast_enabled("cpu") and x.device.type == "cpu":
            # Planning (fp32): channels-last convolutions are 20-27% faster on CPUs (benchmarks/RESULTS.md,
            # "Where the demo's time goes"); training and bf16 stay in the default layout, where they are faster.
            x = x.contiguous(memory_format=torch.channels_last)
        delta = self.net(x)
        return state + delta.reshape(*lead, self.state_dim)
