"""Perception: what the agent sees (the environment's rendering) turned into its state (the world
model's encoder).

The agent never reads true positions. Positions enter only so the environment can render the
observation ``x`` it would show the agent; the state is ``s = Enc(x)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.envs.two_rooms import Layout, TwoRooms
from hjepa.world.model import JEPAWorldModel


class PixelPerception:
    """``positions (N, 2), layout -> states (N, D)`` by rendering and encoding, without gradients.

    Args:
        env: renders observations ``(N, C, H, W)``.
        model: the world model whose encoder gives the states (kept in eval mode).
    """

    def __init__(self, env: TwoRooms, model: JEPAWorldModel) -> None:
        self.env = env
        self.model = model

    @property
    def device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @property
    def state_dim(self) -> int:
        return int(self.model.state_dim)

    def observe(self, pos: Tensor, layout: Layout) -> Tensor:
        """The environment's observation ``(N, C, H, W)`` of positions ``(N, 2)`` (CPU)."""
        return self.env.render(pos.detach().cpu().float(), layout)

    @torch.no_grad()
    def encode(self, obs: Tensor) -> Tensor:
        """``obs (N, C, H, W) -> states (N, D)`` on the model's device."""
        return self.model.encode(obs.to(self.device))

    def __call__(self, pos: Tensor, layout: Layout) -> Tensor:
        return self.encode(self.observe(pos, layout))
