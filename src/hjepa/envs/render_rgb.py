"""Colour pictures of Two Rooms observations, for GIFs and figures.

Black floor, grey walls, a green dot at the goal (optional) and the agent in red on top.
"""

from __future__ import annotations

import numpy as np
import torch

from hjepa.errors import InputError

AGENT_RGB = (230, 40, 40)
WALL_RGB = (128, 128, 128)
GOAL_RGB = (40, 200, 60)


def observations_to_rgb(
    obs: torch.Tensor | np.ndarray,
    goal: torch.Tensor | np.ndarray | None = None,
    world_size: int | None = None,
    dot_sigma: float = 1.3,
    upscale: int = 1,
) -> np.ndarray:
    """RGB frames (N, H*upscale, W*upscale, 3) uint8 from observations (N, 2, H, W) in [0, 1].

    ``goal`` (N, 2) are goal positions (x, y) in world pixels; when the observations were pooled,
    pass the world's ``world_size`` so positions and ``dot_sigma`` are rescaled to the image grid
    (a pooled pixel j covers world pixels [j*p, j*p + p - 1], so its centre is x = j*p + (p-1)/2).
    """
    obs_t = torch.as_tensor(obs).detach().float().cpu()
    if obs_t.ndim != 4 or obs_t.shape[1] != 2:
        raise InputError(f"obs must be (N, 2, H, W), got shape {tuple(obs_t.shape)}")
    n, _, h, w = obs_t.shape
    agent = obs_t[:, 0].clamp(0, 1).unsqueeze(-1)  # (N, H, W, 1)
    walls = obs_t[:, 1].clamp(0, 1).unsqueeze(-1)
    img = walls * torch.tensor(WALL_RGB, dtype=torch.float32)
    if goal is not None:
        goal_t = torch.as_tensor(goal).float().cpu()
        if goal_t.shape != (n, 2):
            raise InputError(f"goal must be ({n}, 2), got shape {tuple(goal_t.shape)}")
        scale = 1.0 if world_size is None else w / world_size
        centre = (goal_t + 0.5) * scale - 0.5
        sigma2 = 2.0 * (dot_sigma * scale) ** 2
        xs = torch.arange(w, dtype=torch.float32).view(1, 1, w)
        ys = torch.arange(h, dtype=torch.float32).view(1, h, 1)
        dot = torch.exp(-((xs - centre[:, 0].view(-1, 1, 1)) ** 2) / sigma2) * torch.exp(
            -((ys - centre[:, 1].view(-1, 1, 1)) ** 2) / sigma2
        )
        alpha = dot.unsqueeze(-1)
        img = img * (1 - alpha) + alpha * torch.tensor(GOAL_RGB, dtype=torch.float32)
    img = img * (1 - agent) + agent * torch.tensor(AGENT_RGB, dtype=torch.float32)
    frames = img.round().clamp(0, 255).to(torch.uint8).numpy()
    if upscale > 1:
        frames = frames.repeat(upscale, axis=1).repeat(upscale, axis=2)
    return frames
