"""Chunked on-disk trajectory datasets (format ``hjepa.trajectories``, version 1).

A dataset is a directory::

    meta.json            format, version, episodes, steps, chunks, arrays + collection metadata
    chunk_00000.npz      arrays for episodes [0, n0)
    chunk_00001.npz      arrays for episodes [n0, n0 + n1) ...

Each chunk is an uncompressed ``.npz`` holding, for its block of ``n`` episodes of ``T`` steps:

- ``positions`` (n, T+1, 2) float32: agent position (x, y) in pixels before each step and after the last;
- ``actions``   (n, T, 2)   float32: displacements actually sent (already norm-clipped);
- ``wall_x``    (n,)        int64:   left column of the dividing wall;
- ``door_y``    (n,)        float32: door centre.

Extra arrays are allowed if their first dimension is the episode. Observations are not stored: they
are rendered on the fly from positions and layout (``TwoRooms.render``), which keeps datasets small.

``meta.json`` holds the keys written here (``format``, ``version``, ``episodes``, ``steps``,
``chunks`` = ``[{"file", "episodes"}, ...]``, ``arrays`` = ``{name: {"dtype", "shape"}}`` with the
per-episode shape) plus whatever the caller passes (by convention ``env``, ``policy``, ``seed``).
See ``docs/data_format.md``.

Writes are atomic: everything goes into a temporary sibling directory which is renamed into place
only when complete; an existing dataset is replaced only with ``overwrite=True`` and only after the
new one is fully written.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hjepa.envs.two_rooms import Layout

FORMAT_NAME = "hjepa.trajectories"
FORMAT_VERSION = 1
META_FILE = "meta.json"
REQUIRED = {"positions": np.float32, "actions": np.float32, "wall_x": np.int64, "door_y": np.float32}
RESERVED_META = ("format", "version", "episodes", "steps", "chunks", "arrays")


def chunk_name(index: int) -> str:
    return f"chunk_{index:05d}.npz"


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def validate_arrays(arrays: dict[str, np.ndarray], where: str = "arrays") -> tuple[int, int]:
    """Check the required arrays' shapes agree and are finite; returns ``(episodes, steps)``."""
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{where}: missing array(s) {missing}")
    pos, act = arrays["positions"], arrays["actions"]
    if pos.ndim != 3 or pos.shape[-1] != 2 or pos.shape[1] < 1:
        raise ValueError(f"{where}: positions must be (E, T+1, 2), got shape {pos.shape}")
    episodes, steps = pos.shape[0], pos.shape[1] - 1
    if act.shape != (episodes, steps, 2):
        raise ValueError(
            f"{where}: actions shape {act.shape} inconsistent with positions shape {pos.shape}"
            f" (expected {(episodes, steps, 2)})"
        )
    for name in ("wall_x", "door_y"):
        if arrays[name].shape != (episodes,):
            raise ValueError(
                f"{where}: {name} shape {arrays[name].shape} inconsistent with positions shape"
                f" {pos.shape} (expected ({episodes},))"
            )
    for name, value in arrays.items():
        if value.ndim == 0 or value.shape[0] != episodes:
            raise ValueError(f"{where}: {name} shape {value.shape} does not start with {episodes} episodes")
    for name in ("positions", "actions", "door_y"):
        if not np.isfinite(arrays[name]).all():
            raise ValueError(f"{where}: {name} contains NaN or inf")
    return episodes, steps


def save_trajectories(
    path: str | os.PathLike,
    arrays: dict,
    meta: dict | None = None,
    chunk_episodes: int = 1000,
    overwrite: bool = False,
) -> Path:
    """Write ``arrays`` (torch or numpy, see module docstring) as a chunked dataset at ``path``.

    ``meta`` (JSON-serialisable) is stored in ``meta.json`` next to the format keys. Refuses
    (``FileExistsError``) to replace an existing non-empty directory unless ``overwrite``.
    """
    clash = [k for k in RESERVED_META if k in (meta or {})]
    if clash:
        raise ValueError(f"meta keys {clash} are written by save_trajectories; rename them")
    data = {k: _to_numpy(v) for k, v in arrays.items()}
    for name, dtype in REQUIRED.items():
        if name in data:
            data[name] = data[name].astype(dtype, copy=False)
    _, steps = validate_arrays(data)
    return write_chunked(path, data, FORMAT_NAME, FORMAT_VERSION, steps, meta, chunk_episodes, overwrite)


def load_trajectories(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read and validate a dataset written by :func:`save_trajectories`; returns ``(arrays, meta)``."""
    return read_chunked(path, FORMAT_NAME, FORMAT_VERSION, validate_arrays, what="trajectory dataset")


# The directory layout for any chunked episode format (this module's trajectories,
# ``hjepa.data.pixel_trajectories``): a format brings its name, version and array validator; these two
# write and read the directory with the same guarantees (atomic replace, every chunk checked, errors
# naming the file).

def write_chunked(
    path: str | os.PathLike,
    data: dict[str, np.ndarray],
    format_name: str,
    version: int,
    steps: int,
    meta: dict | None = None,
    chunk_episodes: int = 1000,
    overwrite: bool = False,
    compressed: bool = False,
) -> Path:
    """Write ``data`` (numpy arrays, already validated, first dimension the episode) at ``path``.

    Chunks hold ``chunk_episodes`` episodes each (``np.savez``, or ``np.savez_compressed`` with
    ``compressed``); ``meta.json`` holds ``format_name``, ``version``, ``episodes``, ``steps``,
    ``chunks``, ``arrays`` (per-episode dtype and shape), then the caller's ``meta``. The write is
    atomic (module docstring); a non-empty directory is replaced only with ``overwrite``
    (``FileExistsError`` otherwise).
    """
    path = Path(path)
    if chunk_episodes < 1:
        raise ValueError(f"chunk_episodes must be >= 1, got {chunk_episodes}")
    meta = dict(meta or {})
    clash = [k for k in RESERVED_META if k in meta]
    if clash:
        raise ValueError(f"meta keys {clash} are written by the {format_name} format itself; rename them")
    counts = {v.shape[0] if v.ndim else -1 for v in data.values()}
    if len(counts) != 1:
        raise ValueError(f"arrays must share their first (episode) dimension, got {sorted(counts)}")
    episodes = counts.pop()
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} is a non-empty directory; pass overwrite=True to replace it")
    savez = np.savez_compressed if compressed else np.savez
    chunks: list[dict] = []
    full_meta = {
        "format": format_name, "version": version, "episodes": episodes, "steps": steps, "chunks": chunks,
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
                savez(f, **{k: v[start:stop] for k, v in data.items()})
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


def read_chunked(
    path: str | os.PathLike,
    format_name: str,
    version: int,
    validate: Callable[[dict[str, np.ndarray], str], tuple[int, int]],
    what: str = "dataset",
) -> tuple[dict[str, np.ndarray], dict]:
    """Read a directory written by :func:`write_chunked`; returns ``(arrays, meta)``.

    ``validate(arrays, where) -> (episodes, steps)`` checks each chunk and the concatenation and
    raises ``ValueError`` naming ``where``; ``what`` names the dataset in the messages. Raises
    ``FileNotFoundError`` (missing directory, ``meta.json`` or chunk) or ``ValueError`` (another
    format or version, corrupt chunk, chunks that disagree, counts that differ from ``meta.json``).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} directory {path} does not exist")
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"{meta_file} is missing: {path} is not a {what}")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{meta_file} is not valid JSON: {err}") from err
    found = meta.get("format") if isinstance(meta, dict) else None
    if found != format_name:
        raise ValueError(f"{meta_file} does not describe a {format_name} dataset (format {found!r})")
    if meta.get("version") != version:
        raise ValueError(f"{meta_file}: unsupported version {meta.get('version')} (want {version})")
    try:
        chunk_list = [(str(c["file"]), int(c["episodes"])) for c in meta["chunks"]]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{meta_file}: malformed chunk list: {err}") from err
    parts: dict[str, list[np.ndarray]] = {}
    for name, count in chunk_list:
        chunk = _read_chunk(path / name)
        episodes, _ = validate(chunk, str(path / name))
        if episodes != count:
            raise ValueError(f"{path / name}: expected {count} episodes, got {episodes}")
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
    episodes, steps = validate(arrays, str(path))
    if episodes != meta.get("episodes") or steps != meta.get("steps"):
        raise ValueError(f"{path}: arrays hold {episodes} episodes x {steps} steps but {meta_file} says"
                         f" {meta.get('episodes')} x {meta.get('steps')}")
    return arrays, meta


def _replace_dir(new: Path, path: Path) -> None:
    """Move the complete directory ``new`` to ``path``; the old one is removed only afterwards."""
    if not path.exists():
        os.rename(new, path)
        return
    old = path.parent / f".{path.name}.old-{uuid.uuid4().hex}"
    os.rename(path, old)
    try:
        os.rename(new, path)
    except BaseException:
        os.rename(old, path)  # put the previous dataset back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _read_chunk(file: Path) -> dict[str, np.ndarray]:
    if not file.is_file():
        raise FileNotFoundError(f"trajectory chunk {file} is missing")
    try:
        with np.load(file, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}  # read everything now, inside the try
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise ValueError(f"trajectory chunk {file} is corrupt or truncated: {err}") from err


@dataclass
class TrajectoryDataset:
    """Episodes in memory: ``positions`` (E, T+1, 2), ``actions`` (E, T, 2), ``wall_x`` (E,), ``door_y`` (E,)."""

    positions: torch.Tensor
    actions: torch.Tensor
    wall_x: torch.Tensor
    door_y: torch.Tensor

    def __post_init__(self) -> None:
        validate_arrays({k: _to_numpy(v) for k, v in self.to_arrays().items()}, "TrajectoryDataset")

    @classmethod
    def from_arrays(cls, arrays: dict) -> "TrajectoryDataset":
        def tensor(name: str, dtype: torch.dtype) -> torch.Tensor:
            value = arrays[name]
            value = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
            return value.to(dtype)

        return cls(
            positions=tensor("positions", torch.float32),
            actions=tensor("actions", torch.float32),
            wall_x=tensor("wall_x", torch.long),
            door_y=tensor("door_y", torch.float32),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TrajectoryDataset":
        arrays, _ = load_trajectories(path)
        return cls.from_arrays(arrays)

    def to_arrays(self) -> dict[str, torch.Tensor]:
        return {"positions": self.positions, "actions": self.actions, "wall_x": self.wall_x, "door_y": self.door_y}

    def __len__(self) -> int:
        return self.positions.shape[0]

    @property
    def steps(self) -> int:
        """Steps per episode ``T``."""
        return self.actions.shape[1]

    def layout(self) -> Layout:
        return Layout(self.wall_x, self.door_y)

    def index(self, idx: torch.Tensor | slice) -> "TrajectoryDataset":
        return TrajectoryDataset(self.positions[idx], self.actions[idx], self.wall_x[idx], self.door_y[idx])

    @classmethod
    def concat(cls, datasets: list["TrajectoryDataset"]) -> "TrajectoryDataset":
        """One dataset holding the episodes of ``datasets`` in order (all of the same length)."""
        if not datasets:
            raise ValueError("nothing to concatenate")
        steps = {d.steps for d in datasets}
        if len(steps) != 1:
            raise ValueError(f"episodes of different lengths cannot be concatenated: {sorted(steps)}")
        return cls(*(torch.cat([getattr(d, name) for d in datasets]) for name in cls.__dataclass_fields__))

    def split(
        self, holdout_fraction: float, generator: torch.Generator | None = None
    ) -> tuple["TrajectoryDataset", "TrajectoryDataset"]:
        """Random disjoint ``(train, held_out)`` by episode; ``held_out`` has round(fraction * E) >= 1."""
        if not 0.0 < holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
        n_hold = max(1, round(holdout_fraction * len(self)))
        if n_hold >= len(self):
            raise ValueError(f"cannot hold out {n_hold} of {len(self)} episodes and keep any for training")
        perm = torch.randperm(len(self), generator=generator)
        return self.index(perm[n_hold:].sort().values), self.index(perm[:n_hold].sort().values)
