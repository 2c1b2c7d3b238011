"""Maze trajectories in the project's trajectory format, and training windows cut from them.

A maze dataset is an ordinary ``hjepa.trajectories`` dataset (:mod:`hjepa.data.trajectories`):
``positions``, ``actions`` and the Two Rooms layout fields ``wall_x``/``door_y`` (zeros here),
plus three per-episode arrays holding the maze layout: ``door_drawn``, ``door_passable`` (E, D)
bool and ``door_centre`` (E, D) float32; ``meta.json`` names the environment
(``{"env": {"name": "maze", ...}}``).

Windows are the same :class:`~hjepa.data.windows.Windows` the Two Rooms world model trains on
(observations rendered on the fly at every ``frameskip``-th step, macro-actions of ``frameskip``
raw actions concatenated), so ``hjepa.world.train.train_world_model`` and its diagnostics run on
them unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hjepa.data.trajectories import load_trajectories, save_trajectories
from hjepa.data.windows import Windows
from hjepa.envs.maze import Maze, MazeLayout

LAYOUT_ARRAYS = ("door_drawn", "door_passable", "door_centre")


@dataclass
class MazeTrajectories:
    """Episodes in memory: ``positions`` (E, T+1, 2), ``actions`` (E, T, 2), ``layout`` (E copies)."""

    positions: torch.Tensor
    actions: torch.Tensor
    layout: MazeLayout

    def __post_init__(self) -> None:
        e = self.positions.shape[0]
        if self.positions.dim() != 3 or self.positions.shape[-1] != 2:
            raise ValueError(f"positions must be (E, T+1, 2), got {tuple(self.positions.shape)}")
        if self.actions.shape != (e, self.positions.shape[1] - 1, 2):
            raise ValueError(f"actions must be ({e}, {self.positions.shape[1] - 1}, 2), got {tuple(self.actions.shape)}")
        if len(self.layout) != e:
            raise ValueError(f"layout has {len(self.layout)} copies for {e} episodes")

    @classmethod
    def from_arrays(cls, arrays: dict) -> "MazeTrajectories":
        missing = [k for k in LAYOUT_ARRAYS if k not in arrays]
        if missing:
            raise ValueError(f"not a maze dataset: missing array(s) {missing}")

        def tensor(name: str) -> torch.Tensor:
            value = arrays[name]
            return value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))

        layout = MazeLayout(tensor("door_drawn").bool(), tensor("door_passable").bool(), tensor("door_centre").float())
        return cls(tensor("positions").float(), tensor("actions").float(), layout)

    def to_arrays(self) -> dict[str, torch.Tensor]:
        e = len(self)
        return {
            "positions": self.positions, "actions": self.actions,
            "wall_x": torch.zeros(e, dtype=torch.long), "door_y": torch.zeros(e),
            "door_drawn": self.layout.drawn, "door_passable": self.layout.passable, "door_centre": self.layout.centre,
        }

    def save(self, path: str | os.PathLike, meta: dict | None = None, overwrite: bool = False):
        return save_trajectories(path, self.to_arrays(), meta, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MazeTrajectories":
        arrays, meta = load_trajectories(path)
        name = (meta.get("env") or {}).get("name") if isinstance(meta.get("env"), dict) else None
        if name not in (None, "maze"):
            raise ValueError(f"{path} holds {name!r} trajectories, not maze trajectories")
        return cls.from_arrays(arrays)

    def __len__(self) -> int:
        return self.positions.shape[0]

    @property
    def steps(self) -> int:
        return self.actions.shape[1]

    def index(self, idx: torch.Tensor | slice) -> "MazeTrajectories":
        return MazeTrajectories(self.positions[idx], self.actions[idx], self.layout.index(idx))


class MazeWindowSampler:
    """Random windows of ``window`` steps of ``frameskip`` raw steps each, rendered and pooled.

    ``sample(batch, generator)`` and ``gather(episode, start)`` return
    :class:`~hjepa.data.windows.Windows` with obs (B, window+1, 2, size/pool, size/pool), actions
    (B, window, 2 * frameskip), positions (B, window+1, 2) (``wall_x``/``door_y`` are zeros).
    Wall channels depend only on the layout and are rendered once per episode.
    """

    def __init__(self, dataset: MazeTrajectories, env: Maze, window: int, frameskip: int = 1, pool: int = 1) -> None:
        if window < 1 or frameskip < 1 or pool < 1:
            raise ValueError(f"window, frameskip and pool must be >= 1, got {window}, {frameskip}, {pool}")
        if env.config.size % pool:
            raise ValueError(f"pool {pool} does not divide the observation size {env.config.size}")
        span = window * frameskip
        if dataset.steps < span:
            raise ValueError(f"episodes have {dataset.steps} steps, too short for window {window} x frameskip {frameskip} = {span}")
        self.dataset, self.env = dataset, env
        self.window, self.frameskip, self.pool, self.span = window, frameskip, pool, span
        walls = env.wall_mask(dataset.layout)  # (E, size, size)
        self._walls = F.avg_pool2d(walls.unsqueeze(1), pool).squeeze(1) if pool > 1 else walls

    @property
    def obs_size(self) -> int:
        return self.env.config.size // self.pool

    @property
    def action_dim(self) -> int:
        return 2 * self.frameskip

    def sample(self, batch: int, generator: torch.Generator | None = None) -> Windows:
        ds = self.dataset
        episode = torch.randint(len(ds), (batch,), generator=generator)
        start = torch.randint(ds.steps - self.span + 1, (batch,), generator=generator)
        return self.gather(episode, start)

    def gather(self, episode: torch.Tensor, start: torch.Tensor) -> Windows:
        ds, k, T = self.dataset, self.frameskip, self.window
        batch = episode.shape[0]
        obs_steps = start.unsqueeze(1) + k * torch.arange(T + 1)  # (B, T+1)
        positions = ds.positions[episode.unsqueeze(1), obs_steps]  # (B, T+1, 2)
        act_steps = start.unsqueeze(1) + torch.arange(T * k)
        actions = ds.actions[episode.unsqueeze(1), act_steps].reshape(batch, T, 2 * k)
        agent = self.env.agent_image(positions.reshape(-1, 2))  # (B*(T+1), size, size)
        if self.pool > 1:
            agent = F.avg_pool2d(agent.unsqueeze(1), self.pool).squeeze(1)
        walls = self._walls[episode].repeat_interleave(T + 1, dim=0)
        obs = torch.stack([agent, walls], dim=1).reshape(batch, T + 1, 2, self.obs_size, self.obs_size)
        zeros = torch.zeros(batch)
        return Windows(obs, actions, positions, zeros.long(), zeros, episode, start)
