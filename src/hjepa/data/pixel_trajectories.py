"""Chunked on-disk datasets of pixel episodes from external environments
(format ``hjepa.pixel_trajectories``, version 1).

Same directory layout and guarantees as ``hjepa.trajectories`` (``meta.json`` + chunk files,
atomic writes, validation on load; see docs/data_format.md), but the frames are stored, since
PushT, PointMaze and Pendulum cannot be re-rendered from a few numbers without their simulator.
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

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hjepa.data.trajectories import META_FILE, RESERVED_META, _read_chunk, _replace_dir, chunk_name

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
    path = Path(path)
    if chunk_episodes < 1:
        raise ValueError(f"chunk_episodes must be >= 1, got {chunk_episodes}")
    meta = dict(meta or {})
    clash = [k for k in RESERVED_META if k in meta]
    if clash:
        raise ValueError(f"meta keys {clash} are written by save_pixel_trajectories; rename them")
    data = {k: np.asarray(v) for k, v in arrays.items()}
    for name, dtype in REQUIRED.items():
        if name in data and name != "frames":
            data[name] = data[name].astype(dtype, copy=False)
    episodes, steps = validate_pixel_arrays(data)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} is a non-empty directory; pass overwrite=True to replace it")
    chunks: list[dict] = []
    full_meta = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "episodes": episodes, "steps": steps, "chunks": chunks,
        "arrays": {k: {"dtype": str(v.dtype), "shape": list(v.shape[1:])} for k, v in data.items()},
        **meta,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        for index, start in enumerate(range(0, episodes, chunk_episodes)):
            stop = min(start + chunk_episodes, episodes)
            name = chunk_name(index)
            with open(tmp / name, "wb") as f:
                np.savez_compressed(f, **{k: v[start:stop] for k, v in data.items()})
                f.flush()
                os.fsync(f.fileno())
            chunks.append({"file": name, "episodes": stop - start})
        with open(tmp / META_FILE, "w") as f:
            json.dump(full_meta, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_pixel_trajectories(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read and validate a dataset written by :func:`save_pixel_trajectories`; ``(arrays, meta)``.

    Raises ``FileNotFoundError`` (missing directory, ``meta.json`` or chunk) or ``ValueError``
    (not this format, corrupt chunk, inconsistent shapes, NaN), each naming the file.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"pixel trajectory dataset directory {path} does not exist")
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"{meta_file} is missing: {path} is not a pixel trajectory dataset")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{meta_file} is not valid JSON: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{meta_file} does not describe a {FORMAT_NAME} dataset (format {meta.get('format')!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{meta_file}: unsupported version {meta.get('version')} (want {FORMAT_VERSION})")
    try:
        chunk_list = [(str(c["file"]), int(c["episodes"])) for c in meta["chunks"]]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{meta_file}: malformed chunk list: {err}") from err
    parts: dict[str, list[np.ndarray]] = {}
    for name, count in chunk_list:
        chunk = _read_chunk(path / name)
        validate_pixel_arrays(chunk, where=str(path / name))
        if chunk["frames"].shape[0] != count:
            raise ValueError(f"{path / name}: expected {count} episodes, got {chunk['frames'].shape[0]}")
        if parts and set(chunk) != set(parts):
            raise ValueError(f"{path / name}: arrays {sorted(chunk)} differ from {sorted(parts)}")
        first = not parts
        for k, v in chunk.items():
            if not first and v.shape[1:] != parts[k][0].shape[1:]:
                raise ValueError(f"{path / name}: {k} shape {v.shape} does not match {parts[k][0].shape} of the first chunk")
            parts.setdefault(k, []).append(v)
    if not parts:
        raise ValueError(f"{meta_file} lists no chunks")
    arrays = {k: np.concatenate(v, axis=0) for k, v in parts.items()}
    episodes, steps = validate_pixel_arrays(arrays, where=str(path))
    if episodes != meta.get("episodes") or steps != meta.get("steps"):
        raise ValueError(f"{path}: arrays hold {episodes} episodes x {steps} steps but {meta_file} says"
                         f" {meta.get('episodes')} x {meta.get('steps')}")
    return arrays, meta


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
