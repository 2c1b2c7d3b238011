"""The directory layout of a chunked episode dataset: ``meta.json`` and chunk files, written
atomically and read with every chunk checked.

A dataset is a directory::

    meta.json            format, version, episodes, steps, chunks, arrays + the caller's metadata
    chunk_00000.npz      arrays for episodes [0, n0)
    chunk_00001.npz      arrays for episodes [n0, n0 + n1) ...

A format (:mod:`hjepa.data.trajectories`) brings its name, version and array validator; these
functions write and read the directory with the same guarantees: everything goes into a temporary
sibling directory which is renamed into place only when complete, an existing dataset is replaced
only with ``overwrite=True`` and only after the new one is fully written (the old directory, whatever
it holds, is then renamed to ``name.old-<timestamp>`` beside it, never deleted, as ``hjepa`` moves a
run aside), and every error names the file.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hjepa.errors import InputError
from hjepa.runs.run_dir import move_aside

META_FILE = "meta.json"
RESERVED_META = ("format", "version", "episodes", "steps", "chunks", "arrays")


def chunk_name(index: int) -> str:
    return f"chunk_{index:05d}.npz"


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
    (``FileExistsError`` otherwise), and then moved aside to ``name.old-<timestamp>``, not deleted.
    A directory that is (or holds) the working directory is refused (``InputError``).
    """
    given = Path(path)
    path = Path(os.path.abspath(given))  # '.', '..' and 'a/..' name a real directory and its parent
    if chunk_episodes < 1:
        raise InputError(f"chunk_episodes must be >= 1, got {chunk_episodes}")
    meta = dict(meta or {})
    clash = [k for k in RESERVED_META if k in meta]
    if clash:
        raise InputError(f"meta keys {clash} are written by the {format_name} format itself; rename them")
    counts = {v.shape[0] if v.ndim else -1 for v in data.values()}
    if len(counts) != 1:
        raise InputError(f"arrays must share their first (episode) dimension, got {sorted(counts)}")
    episodes = counts.pop()
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{given} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{given} is a non-empty directory; pass overwrite=True (--overwrite) to move it aside"
                              " (it is renamed, never deleted)")
    if Path.cwd().is_relative_to(path.resolve()):
        raise InputError(f"{given} is the working directory or holds it: write the {format_name} dataset to another directory")
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
    return given


def read_chunked(
    path: str | os.PathLike,
    formats: tuple[tuple[str, int], ...],
    validate: Callable[[dict[str, np.ndarray], str], tuple[int, int]],
    what: str = "dataset",
) -> tuple[dict[str, np.ndarray], dict]:
    """Read a directory written by :func:`write_chunked` in one of ``formats`` (``(name, version)``
    pairs); returns ``(arrays, meta)``.

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
        raise InputError(f"{meta_file} is not valid JSON: {err}") from err
    found = meta.get("format") if isinstance(meta, dict) else None
    names = {name for name, _ in formats}
    if found not in names:
        raise InputError(f"{meta_file} does not describe a {' or '.join(sorted(names))} dataset (format {found!r})")
    if (found, meta.get("version")) not in formats:
        wanted = ", ".join(str(v) for name, v in formats if name == found)
        raise InputError(f"{meta_file}: unsupported version {meta.get('version')} of {found} (want {wanted})")
    try:
        chunk_list = [(str(c["file"]), int(c["episodes"])) for c in meta["chunks"]]
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{meta_file}: malformed chunk list: {err}") from err
    parts: dict[str, list[np.ndarray]] = {}
    for name, count in chunk_list:
        chunk = _read_chunk(path / name)
        episodes, _ = validate(chunk, str(path / name))
        if episodes != count:
            raise InputError(f"{path / name}: expected {count} episodes, got {episodes}")
        if parts and set(chunk) != set(parts):
            raise InputError(f"{path / name}: arrays {sorted(chunk)} differ from {sorted(parts)}")
        first = not parts
        for k, v in chunk.items():
            if not first and v.shape[1:] != parts[k][0].shape[1:]:
                raise InputError(f"{path / name}: {k} shape {v.shape} does not match {parts[k][0].shape} of the first chunk")
            parts.setdefault(k, []).append(v)
    if not parts:
        raise InputError(f"{meta_file} lists no chunks")
    arrays = {k: np.concatenate(v, axis=0) for k, v in parts.items()}
    episodes, steps = validate(arrays, str(path))
    if episodes != meta.get("episodes") or steps != meta.get("steps"):
        raise InputError(f"{path}: arrays hold {episodes} episodes x {steps} steps but {meta_file} says"
                         f" {meta.get('episodes')} x {meta.get('steps')}")
    return arrays, meta


def _replace_dir(new: Path, path: Path) -> Path | None:
    """Move the complete directory ``new`` to ``path``. A non-empty ``path`` is first renamed to
    ``name.old-<timestamp>`` (kept, never deleted; put back if the move fails); returns where it went."""
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()  # empty: nothing to keep
    if not path.exists():
        os.rename(new, path)
        return None
    old = move_aside(path)
    try:
        os.rename(new, path)
    except BaseException:
        os.rename(old, path)  # put the previous directory back
        raise
    return old


def _read_chunk(file: Path) -> dict[str, np.ndarray]:
    if not file.is_file():
        raise FileNotFoundError(f"trajectory chunk {file} is missing")
    try:
        with np.load(file, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}  # read everything now, inside the try
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise InputError(f"trajectory chunk {file} is corrupt or truncated: {err}") from err
