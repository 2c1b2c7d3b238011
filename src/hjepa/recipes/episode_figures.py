"""Pictures of Two Rooms, maze and agent episodes: executed and planned paths, and GIF frames.

A forbidden zone, when given, is shaded in the wall image that :func:`hjepa.runs.plots.plot_paths`
shows in grey (walls black, zone mid-grey), and tinted purple in the frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hjepa.control.episodes import EpisodeResult
from hjepa.cost.regions import Box
from hjepa.envs.render_rgb import observations_to_rgb
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError
from hjepa.runs.plots import plot_paths

ZONE_SHADE = 0.35
ZONE_RGB = np.array([90, 60, 150], dtype=np.float32)


def zone_mask(size: int, zone: Box | None) -> torch.Tensor:
    """``(size, size)`` bool: pixels whose centre lies in ``zone``."""
    if zone is None:
        return torch.zeros(size, size, dtype=torch.bool)
    coords = torch.arange(size, dtype=torch.float32)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    return zone.contains(torch.stack([xs, ys], dim=-1))


def episode_end(result: EpisodeResult, e: int) -> int:
    """Last step worth showing: the step of success, else the end of the episode."""
    steps = int(result.steps_to_success[e])
    return steps if steps >= 0 else result.paths.shape[1] - 1


def _check_episodes(result: EpisodeResult, episodes: Sequence[int]) -> list[int]:
    episodes = [int(e) for e in episodes]
    if not episodes:
        raise InputError("episodes is empty")
    bad = [e for e in episodes if not 0 <= e < result.episodes]
    if bad:
        raise InputError(f"episodes {bad} out of range for {result.episodes} episodes")
    return episodes


def plot_episode_paths(env, tasks: Tasks, result: EpisodeResult, episodes: Sequence[int], out_path: Path | str,
                       zone: Box | None = None) -> Path:
    """One panel per episode: walls (and zone), executed path up to success, the first planned path
    (when recorded), start, goal; the title says success or fail (and the steps spent in the zone)."""
    episodes = _check_episodes(result, episodes)
    index = torch.tensor(episodes)
    shade = zone_mask(env.config.size, zone).float() * ZONE_SHADE
    walls = [torch.maximum(w, shade) for w in env.wall_mask(tasks.layout.index(index))]
    executed = [result.paths[e, : episode_end(result, e) + 1] for e in episodes]
    recorded = result.planned_paths
    planned = [recorded[e][0] if e < len(recorded) and recorded[e] else None for e in episodes]
    violations = result.extra.get("violations_per_episode")
    titles = [f"episode {e}" + (f", {int(violations[e])} in zone" if zone is not None and violations is not None else "")
              for e in episodes]
    return plot_paths(walls, executed, planned, tasks.start[index], tasks.goal[index], out_path, titles=titles,
                      successes=[bool(result.success[e]) for e in episodes], success_radius=env.config.success_radius)


def episode_frames(env, tasks: Tasks, result: EpisodeResult, episodes: Sequence[int], stride: int = 1,
                   zone: Box | None = None) -> np.ndarray:
    """RGB frames ``(E, T, size, size, 3)`` uint8 of the executed paths, goal drawn in green.

    Frames are taken every ``stride`` steps up to the latest success (or the end) among the chosen
    episodes, the last one always included; pass the array's rows to :func:`hjepa.runs.gif.write_gif`.
    """
    if stride < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    episodes = _check_episodes(result, episodes)
    end = max(episode_end(result, e) for e in episodes)
    steps = list(range(0, end + 1, stride))
    if steps[-1] != end:
        steps.append(end)
    index = torch.tensor(episodes)
    pos = result.paths[index][:, steps]  # (E, T, 2)
    count, frames = pos.shape[:2]
    obs = env.render(pos.reshape(-1, 2), tasks.layout.index(index.repeat_interleave(frames)))
    goals = tasks.goal[index].repeat_interleave(frames, dim=0)
    rgb = observations_to_rgb(obs, goal=goals, dot_sigma=env.config.dot_sigma)
    mask = zone_mask(env.config.size, zone).numpy()
    if mask.any():
        rgb = rgb.astype(np.float32)
        agent = obs[:, 0].numpy()[..., None]
        tint = 0.5 * rgb[:, mask] + 0.5 * ZONE_RGB
        rgb[:, mask] = (1 - agent[:, mask]) * tint + agent[:, mask] * rgb[:, mask]
        rgb = rgb.round().clip(0, 255).astype(np.uint8)
    return rgb.reshape(count, frames, *rgb.shape[1:])
