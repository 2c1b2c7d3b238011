"""Chunked on-disk datasets of pixel episodes from external environments
(format ``hjepa.pixel_trajectories``, version 1).

Same directory layout and guarantees as ``hjepa.trajectories`` (``meta.json`` + chunk files,
atomic writes, validation on load; see docs/data_format.md), but the frames are stored, since
PushT, PointMaze, Pendulum and reacher cannot be re-rendered from a few numbers without their simulator.
Each chunk is a *compressed* ``.npz`` (rendered frames are mostly flat colour) holding, for ``n``
episodes of ``T`` steps:

- ``frames``  (n, T+1, C, H, W) uint8:   the rendered frame before each step and after the last;
- ``actions`` (n, T, A)         float32: the actions sent (already clipped to the box);
- ``states``  (n, T+1, S)       float64: the simulator's true state at each frame;
- ``seeds``   (n,)              int64:   the reset seed of each episode.

Extra arrays are allowed if their first dimension is the episode. ``meta.json`` holds the
library's keys (``format``, ``version``, ``episodes``, ``steps``, ``chunks``, ``arrays``) plus the
caller's: by convention ``env`` (the adapter's ``PixelSpec.to_dict()``), ``policy``
(``{"name", "params"}``) and ``seed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hjepa.data.trajectories import RESERVED_META, read_chunked, write_chunked

FORMAT_NAME = "hjepa.pixel_trajectories"
FORMAT_VERSION = 1
REQUIRED = {"frames": np.uint8, "actions": np.float32, "states": np.float64, "seeds": np.int64}


def validate_pixel_arrays(arrays: dict[str, np.ndarray], where: str = "arrays") -> tuple[int, int]:
    """Check the required arrays' shapes agree and are finite; returns ``(episodes, steps)``."""
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{where}: missing array(s) {missing}")
    frames, actions, states = arrays["frames"], arrays["actions"], arrays["states"]
    if frames.ndim != 5 or frames.shape[1] < 2:
        raise ValueError(f"{where}: frames must be (E, T+1, C, H, W) with T >= 1, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"{where}: frames must be uint8, got {frames.dtype}")
    episodes, steps = frames.shape[0], frames.shape[1] - 1
    if actions.ndim != 3 or actions.shape[:2] != (episodes, steps):
        raise ValueError(f"{where}: actions shape {actions.shape} inconsistent with frames shape {frames.shape}"
                         f" (expected ({episodes}, {steps}, A))")
    if states.ndim != 3 or states.shape[:2] != (episodes, steps + 1):
        raise ValueError(f"{where}: states shape {states.shape} inconsistent with frames shape {frames.shape}"
                         f" (expected ({episodes}, {steps + 1}, S))")
    for name, value in arrays.items():
        if value.ndim == 0 or value.shape[0] != episodes:
            raise ValueError(f"{where}: {name} shape {value.shape} does not start with {episodes} episodes")
    for name in ("actions", "states"):
        if not np.isfinite(arrays[name]).all():
            raise ValueError(f"{where}: {name} contains NaN or inf")
    return episodes, steps


def save_pixel_trajectories(
    path: str | os.PathLike, arrays: dict, meta: dict | None = None, chunk_episodes: int = 200,
    overwrite: bool = False,
) -> Path:
    """Write ``arrays`` (see the module docstring) as a chunked dataset at ``path``, atomically.

    Refuses (``FileExistsError``) to replace a non-empty directory unless ``overwrite``.
    """
    data = {k: np.asarray(v) for k, v in arrays.items()}
    for name, dtype in REQUIRED.items():
        if name in data and name != "frames":
            data[name] = data[name].astype(dtype, copy=False)
    _, steps = validate_pixel_arrays(data)
    return write_chunked(path, data, FORMAT_NAME, FORMAT_VERSION, steps, meta, chunk_episodes, overwrite, compressed=True)


def load_pixel_trajectories(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read and validate a dataset written by :func:`save_pixel_trajectories`; ``(arrays, meta)``.

    Raises ``FileNotFoundError`` (missing directory, ``meta.json`` or chunk) or ``ValueError``
    (not this format, corrupt chunk, inconsistent shapes, NaN), each naming the file.
    """
    return read_chunked(path, FORMAT_NAME, FORMAT_VERSION, validate_pixel_arrays, "pixel trajectory dataset")


@dataclass
class PixelTrajectories:
    """Episodes in memory: ``frames (E, T+1, C, H, W)`` uint8, ``actions (E, T, A)``,
    ``states (E, T+1, S)``, ``seeds (E,)`` (numpy arrays) and the dataset's ``meta``."""

    frames: np.ndarray
    actions: np.ndarray
    states: np.ndarray
    seeds: np.ndarray
    meta: dict

    def __post_init__(self) -> None:
        validate_pixel_arrays(self.to_arrays(), "PixelTrajectories")

    @classmethod
    def from_arrays(cls, arrays: dict, meta: dict | None = None) -> "PixelTrajectories":
        return cls(
            np.asarray(arrays["frames"]), np.asarray(arrays["actions"], np.float32),
            np.asarray(arrays["states"], np.float64), np.asarray(arrays["seeds"], np.int64), dict(meta or {}),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PixelTrajectories":
        arrays, meta = load_pixel_trajectories(path)
        return cls.from_arrays(arrays, meta)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"frames": self.frames, "actions": self.actions, "states": self.states, "seeds": self.seeds}

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        user_meta = {k: v for k, v in self.meta.items() if k not in RESERVED_META}
        return save_pixel_trajectories(path, self.to_arrays(), user_meta, overwrite=overwrite)

    def __len__(self) -> int:
        return self.frames.shape[0]

    @property
    def steps(self) -> int:
        return self.actions.shape[1]
