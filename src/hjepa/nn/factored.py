"""An encoder made of one stream per group of observation channels."""

from __future__ import annotations

import torch
from torch import nn


class ChannelGroupEncoder(nn.Module):
    """Split the channels of an image, encode each group with its own encoder, concatenate.

    With a per-dimension variance regulariser (VICReg) on the concatenated state, every stream must
    vary across the batch, so a stream that sees only the static part of a scene (the walls of Two
    Rooms) is forced to encode how that part differs between scenes (where the wall and the door
    are). A single shared encoder can satisfy the regulariser with the moving agent alone and leave
    the door out, and a world model that does not know where the door is cannot predict the wall.

    Args:
        encoders: one encoder per group, each (B, C_g, H, W) -> (B, D_g).
        groups: the channel count C_g of each group, in channel order.

    Shapes: obs (B, sum(C_g), H, W) -> (B, sum(D_g)).
    """

    def __init__(self, encoders: list[nn.Module], groups: list[int]) -> None:
        super().__init__()
        if len(encoders) != len(groups) or not groups:
            raise ValueError(f"need one encoder per channel group, got {len(encoders)} and {groups}")
        self.streams = nn.ModuleList(encoders)
        self.groups = list(groups)
        self.in_channels = sum(groups)
        self.input_size = getattr(encoders[0], "input_size", None)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if obs.dim() != 4 or obs.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, H, W), got {tuple(obs.shape)}")
        parts = torch.split(obs, self.groups, dim=1)
        return torch.cat([stream(part) for stream, part in zip(self.streams, parts)], dim=-1)
