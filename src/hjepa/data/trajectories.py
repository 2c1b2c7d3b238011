"""Trajectories: the one store of episodes, in memory and on disk (format ``hjepa.trajectories``,
version 2; see docs/data_format.md).

``E`` episodes of ``T`` steps; every array's first dimension is the episode:

- ``actions``   (E, T, A)         float32: the actions sent (already clipped);
- ``positions`` (E, T+1, 2)       float32: Two Rooms and the maze, the agent's position (x, y) in
  pixels before each step and after the last (observations are rendered from them, not stored);
- ``states``    (E, T+1, S)       float64: the pixel environments, the simulator's true state;
- ``frames``    (E, T+1, C, H, W) uint8:   the pixel environments, the rendered frames (stored,
  since PushT, PointMaze, Pendulum and reacher cannot be re-rendered without their simulator);
- ``episode_arrays``: per-episode arrays (E, ...): the layout (Two Rooms: ``wall_x`` int64,
  ``door_y`` float32; the maze: ``door_drawn``, ``door_passable`` bool, ``door_centre`` float32)
  and the pixel environments' reset ``seeds`` int64.

``actions`` and at least one of ``positions``, ``states`` and ``frames`` are required. On disk a
dataset is a chunked directory (:mod:`hjepa.data.chunked`), compressed when it holds frames;
``meta.json`` carries the caller's metadata (by convention ``env``, ``policy``, ``seed``).
Version 1 datasets (``hjepa.trajectories`` of Two Rooms and the maze, ``hjepa.pixel_trajectories``)
still load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hjepa.data.chunked import RESERVED_META, read_chunked, write_chunked
from hjepa.envs.maze import MazeLayout
from hjepa.envs.two_rooms import Layout
from hjepa.errors import InputError

FORMAT_NAME = "hjepa.trajectories"
FORMAT_VERSION = 2
READABLE = ((FORMAT_NAME, 2), (FORMAT_NAME, 1), ("hjepa.pixel_trajectories", 1))
STEP_ARRAYS = {"actions": np.float32, "positions": np.float32, "states": np.float64, "frames": np.uint8}
"""The per-step arrays and their dtypes; every other array is per episode."""
EPISODE_DTYPES = {"wall_x": np.int64, "door_y": np.float32, "door_drawn": np.bool_, "door_passable": np.bool_,
                  "door_centre": np.float32, "seeds": np.int64}


def validate_arrays(arrays: dict[str, np.ndarray], where: str = "arrays") -> tuple[int, int]:
    """Check the arrays' shapes agree and are finite; returns ``(episodes, steps)``."""
    if "actions" not in arrays:
        raise InputError(f"{where}: missing array(s) ['actions']")
    if not any(name in arrays for name in ("positions", "states", "frames")):
        raise InputError(f"{where}: needs positions, states or frames beside the actions")
    actions = arrays["actions"]
    if actions.ndim != 3:
        raise InputError(f"{where}: actions must be (E, T, A), got shape {actions.shape}")
    episodes, steps = actions.shape[:2]
    expected = {"positions": (episodes, steps + 1, 2)}
    for name in ("positions", "states", "frames"):
        if name not in arrays:
            continue
        value = arrays[name]
        want = expected.get(name, (episodes, steps + 1))
        if value.shape[: len(want)] != want or (name == "states" and value.ndim != 3) or (name == "frames" and value.ndim != 5):
            raise InputError(f"{where}: {name} shape {value.shape} inconsistent with actions shape {actions.shape}"
                             f" (expected {want}{' + (C, H, W)' if name == 'frames' else ''})")
    if "frames" in arrays and arrays["frames"].dtype != np.uint8:
        raise InputError(f"{where}: frames must be uint8, got {arrays['frames'].dtype}")
    for name, value in arrays.items():
        if value.ndim == 0 or value.shape[0] != episodes:
            raise InputError(f"{where}: {name} shape {value.shape} does not start with {episodes} episodes")
        if name != "frames" and value.dtype.kind == "f" and not np.isfinite(value).all():
            raise InputError(f"{where}: {name} contains NaN or inf")
    return episodes, steps


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)


def _typed(arrays: dict) -> dict[str, np.ndarray]:
    """Numpy arrays in the format's dtypes."""
    out = {}
    for name, value in arrays.items():
        dtype = STEP_ARRAYS.get(name, EPISODE_DTYPES.get(name))
        value = _numpy(value)
        out[name] = value.astype(dtype, copy=False) if dtype is not None and name != "frames" else value
    return out


@dataclass
class Trajectories:
    """Episodes in memory (module docstring for the arrays); tensors share memory with loaded arrays."""

    actions: Tensor
    positions: Tensor | None = None
    states: Tensor | None = None
    frames: Tensor | None = None
    episode_arrays: dict[str, Tensor] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_arrays({k: _numpy(v) for k, v in self.to_arrays().items()}, "Trajectories")

    @classmethod
    def from_arrays(cls, arrays: dict, meta: dict | None = None) -> Trajectories:
        """From named arrays (numpy or torch) in the module docstring's layout."""
        typed = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in _typed(arrays).items()}
        steps = {name: typed.pop(name) for name in list(STEP_ARRAYS) if name in typed}
        return cls(steps.pop("actions"), **steps, episode_arrays=typed, meta=dict(meta or {}))

    def to_arrays(self) -> dict[str, Tensor]:
        out = {"actions": self.actions}
        out.update({name: getattr(self, name) for name in ("positions", "states", "frames") if getattr(self, name) is not None})
        return {**out, **self.episode_arrays}

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trajectories:
        """Read and validate a dataset (any readable version). Raises ``FileNotFoundError`` (missing
        directory, ``meta.json`` or chunk) or ``ValueError`` (not this format, corrupt chunk,
        inconsistent shapes, NaN), each naming the file."""
        arrays, meta = read_chunked(path, READABLE, validate_arrays, "trajectory dataset")
        return cls.from_arrays(arrays, {k: v for k, v in meta.items() if k not in RESERVED_META})

    def save(self, path: str | os.PathLike, meta: dict | None = None, chunk_episodes: int | None = None,
             overwrite: bool = False) -> Path:
        """Write the dataset at ``path`` atomically, with ``meta`` (default: its own) in ``meta.json``.

        Refuses (``FileExistsError``) to replace a non-empty directory unless ``overwrite``, which
        moves it aside (``name.old-<timestamp>``, never deleted) once the new dataset is complete.
        """
        meta = dict(self.meta if meta is None else meta)
        clash = [k for k in RESERVED_META if k in meta]
        if clash:
            raise InputError(f"meta keys {clash} are written by the trajectory format itself; rename them")
        data = _typed(self.to_arrays())
        _, steps = validate_arrays(data)
        pixels = self.frames is not None
        chunk = chunk_episodes if chunk_episodes is not None else (200 if pixels else 1000)
        return write_chunked(path, data, FORMAT_NAME, FORMAT_VERSION, steps, meta, chunk, overwrite, compressed=pixels)

    def __len__(self) -> int:
        return self.actions.shape[0]

    @property
    def steps(self) -> int:
        """Steps per episode ``T``."""
        return self.actions.shape[1]

    def layout(self) -> Layout | MazeLayout:
        """The episodes' layouts: the maze's door arrays if present, else Two Rooms' wall and door."""
        arrays = self.episode_arrays
        if "door_drawn" in arrays:
            return MazeLayout(arrays["door_drawn"].bool(), arrays["door_passable"].bool(), arrays["door_centre"].float())
        if "wall_x" in arrays:
            return Layout(arrays["wall_x"], arrays["door_y"])
        raise InputError("these trajectories hold no layout (no wall_x/door_y or door arrays)")

    def index(self, idx: Tensor | slice) -> Trajectories:
        """The episodes ``idx`` selects (indices, mask or slice)."""
        pick = {name: getattr(self, name)[idx] if getattr(self, name) is not None else None
                for name in ("positions", "states", "frames")}
        return replace(self, actions=self.actions[idx], **pick,
                       episode_arrays={k: v[idx] for k, v in self.episode_arrays.items()})

    @classmethod
    def concat(cls, datasets: list[Trajectories]) -> Trajectories:
        """One dataset holding the episodes of ``datasets`` in order (same length, same arrays)."""
        if not datasets:
            raise InputError("nothing to concatenate")
        steps = {d.steps for d in datasets}
        if len(steps) != 1:
            raise InputError(f"episodes of different lengths cannot be concatenated: {sorted(steps)}")
        names = {tuple(sorted(d.to_arrays())) for d in datasets}
        if len(names) != 1:
            raise InputError(f"datasets hold different arrays: {sorted(names)}")
        arrays = {name: torch.cat([d.to_arrays()[name] for d in datasets]) for name in datasets[0].to_arrays()}
        return cls.from_arrays(arrays, datasets[0].meta)

    def split(self, holdout_fraction: float, generator: torch.Generator | None = None) -> tuple[Trajectories, Trajectories]:
        """Random disjoint ``(train, held_out)`` by episode; ``held_out`` has round(fraction * E) >= 1."""
        if not 0.0 < holdout_fraction < 1.0:
            raise InputError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
        n_hold = max(1, round(holdout_fraction * len(self)))
        if n_hold >= len(self):
            raise InputError(f"cannot hold out {n_hold} of {len(self)} episodes and keep any for training")
        perm = torch.randperm(len(self), generator=generator)
        return self.index(perm[n_hold:].sort().values), self.index(perm[:n_hold].sort().values)
