"""Pictures of agent episodes: executed and imagined paths with the forbidden zone, and a GIF.

The zone is drawn by shading its pixels in the wall image that :func:`hjepa.runs.plots.plot_paths`
shows in grey (walls black, zone mid-grey), and tinted in the GIF frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hjepa.agent.episodes import EpisodeResult
from hjepa.agent.regions import Box
from hjepa.agent.tasks import AgentTasks
from hjepa.envs.render_rgb import observations_to_rgb
from hjepa.envs.two_rooms import TwoRooms
from hjepa.runs.gif import write_gif
from hjepa.runs.plots import plot_paths

ZONE_SHADE = 0.35
ZONE_RGB = np.array([90, 60, 150], dtype=np.float32)


def zone_mask(size: int, zone: Box | None) -> torch.Tensor:
    """``(size, size)`` bool: pixels whose centre lies in ``zone``."""
    coords = torch.arange(size, dtype=torch.float32)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    if zone is None:
        return torch.zeros(size, size, dtype=torch.bool)
    return zone.contains(torch.stack([xs, ys], dim=-1))


def _episode_end(result: EpisodeResult, e: int) -> int:
    steps = int(result.steps_to_success[e])
    return steps if steps >= 0 else result.paths.shape[1] - 1


def plot_agent_paths(env: TwoRooms, tasks: AgentTasks, result: EpisodeResult, episodes: Sequence[int],
                     out_path: Path | str, zone: Box | None = None) -> Path:
    """One panel per episode: walls, zone (grey), executed path, first imagined path, start, goal
    (the target room's centre for room goals)."""
    episodes = [int(e) for e in episodes]
    if not episodes or not all(0 <= e < result.episodes for e in episodes):
        raise ValueError(f"episodes {episodes} out of range for {result.episodes} episodes")
    index = torch.tensor(episodes)
    shade = zone_mask(env.config.size, zone).float() * ZONE_SHADE
    walls = [torch.maximum(w, shade) for w in env.wall_mask(tasks.layout.index(index))]
    executed = [result.paths[e, : _episode_end(result, e) + 1] for e in episodes]
    planned = None
    if result.planned_paths is not None:
        planned = [result.planned_paths[e] if e < result.planned_paths.shape[0] else None for e in episodes]
    titles = [f"episode {e}" + (f", {int(result.violations[e])} in zone" if zone is not None else "")
              for e in episodes]
    return plot_paths(walls, executed, planned, tasks.start[index], tasks.goal[index], out_path, titles=titles,
                      successes=[bool(result.success[e]) for e in episodes],
                      success_radius=env.config.success_radius)


def write_agent_gif(env: TwoRooms, tasks: AgentTasks, result: EpisodeResult, episodes: Sequence[int],
                    out_path: Path | str, zone: Box | None = None, stride: int = 2) -> Path:
    """Animated GIF of the executed episodes side by side (agent red, goal green, zone purple)."""
    episodes = [int(e) for e in episodes]
    end = max(_episode_end(result, e) for e in episodes)
    steps = list(range(0, end + 1, max(1, stride)))
    if steps[-1] != end:
        steps.append(end)
    index = torch.tensor(episodes)
    pos = result.paths[index][:, steps]  # (E, T, 2)
    count, frames = pos.shape[:2]
    layout = tasks.layout.index(index.repeat_interleave(frames))
    obs = env.render(pos.reshape(-1, 2), layout)
    goals = tasks.goal[index].repeat_interleave(frames, dim=0)
    rgb = observations_to_rgb(obs, goal=goals, dot_sigma=env.config.dot_sigma).astype(np.float32)
    mask = zone_mask(env.config.size, zone).numpy()
    if mask.any():
        agent = obs[:, 0].numpy()[..., None]
        tint = 0.5 * rgb[:, mask] + 0.5 * ZONE_RGB
        rgb[:, mask] = (1 - agent[:, mask]) * tint + agent[:, mask] * rgb[:, mask]
    video = rgb.round().clip(0, 255).astype(np.uint8).reshape(count, frames, *rgb.shape[1:])
    return write_gif(list(video), out_path, fps=15, scale=3)
