"""A run directory: config, metrics, checkpoints and artefacts of one experiment.

Layout::

    root/name/
        config.json         # write_config
        metrics.jsonl       # log, one JSON object per line
        checkpoints/*.pt    # save_checkpoint, loadable with torch.load(weights_only=True)
        tensorboard/        # with tensorboard=True: log's numbers and publish's images as TensorBoard events

Nothing already written is ever lost: an existing non-empty run is refused unless
``overwrite=True``, and even then it is renamed to ``name.old-<timestamp>`` rather than deleted.
Every file except the append-only metrics log is written atomically (temporary file + rename).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from hjepa.errors import InputError
from hjepa.runs.provenance import provenance
from hjepa.runs.tensorboard import TENSORBOARD_DIR, TensorBoardWriter

CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
RUN_KEY = "run"
"""The reserved key of ``config.json`` that holds the run's provenance (not an option)."""


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` into plain, strict JSON types: tuples -> lists, Paths -> str, enums -> value,
    scalar tensors / numpy scalars -> float or int, other tensors / arrays -> nested lists, and NaN
    or infinite floats -> None (``null``), which every JSON parser reads."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None  # strict JSON: NaN and inf become null
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu()
        return to_jsonable(obj.item() if obj.numel() == 1 and obj.dim() == 0 else obj.tolist())
    # numpy scalars and arrays, without importing numpy here.
    if hasattr(obj, "item") and hasattr(obj, "shape"):
        return to_jsonable(obj.item() if obj.shape == () else obj.tolist())
    if isinstance(obj, type):
        return obj.__name__
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON: {obj!r}")


def _fsync_replace(tmp: Path, dest: Path) -> None:
    os.replace(tmp, dest)
    try:  # make the rename durable; not every filesystem allows fsync on a directory
        fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0o666 less the process umask (0o644 by default)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same directory and ``os.replace``; the
    file is readable as the umask allows (``mkstemp`` alone would leave it 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, file_mode())
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _fsync_replace(Path(tmp_name), path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _checkpoint_safe(obj: Any, where: str) -> Any:
    """Convert ``obj`` to what ``torch.load(weights_only=True)`` accepts, or raise ``ValueError``."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return _checkpoint_safe(obj.value, where)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise InputError(f"checkpoint key {where}[{k!r}] must be str or int, got {type(k).__name__}")
            out[k] = _checkpoint_safe(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [_checkpoint_safe(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _checkpoint_safe(to_jsonable(obj), where)
    if hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "item"):  # numpy
        return obj.item() if obj.shape == () else torch.as_tensor(obj)
    raise InputError(
        f"checkpoint value {where} has type {type(obj).__name__}; only tensors, numbers, strings, "
        "None, lists and dicts are allowed (so torch.load(weights_only=True) can read it)"
    )


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by ``RunDir.save_checkpoint`` with ``weights_only=True``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is corrupt, truncated or not a dict (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... here
        raise InputError(
            f"checkpoint {path} is corrupt or truncated and cannot be loaded ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(obj, dict):
        raise InputError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict")
    return obj


def _first_existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _check_root_writable(root: Path) -> None:
    """Raise a clear error when ``root`` cannot hold a new run directory."""
    existing = _first_existing_ancestor(root)
    if not existing.is_dir():
        raise NotADirectoryError(
            f"cannot create run root {root}: {existing} exists and is a file, not a directory"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"run root {existing} is not writable; choose another root directory")


def aside_path(path: Path) -> Path:
    """A free name beside ``path`` for its old content: ``name.old-<timestamp>`` (``-1``, ``-2``... if taken)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.parent / f"{path.name}.old-{stamp}"
    k = 1
    while aside.exists():
        aside = path.parent / f"{path.name}.old-{stamp}-{k}"
        k += 1
    return aside


def move_aside(path: Path) -> Path:
    """Rename ``path`` to :func:`aside_path` (never delete it); returns where it went."""
    aside = aside_path(path)
    os.replace(path, aside)
    return aside


class RunDir:
    """Handle on ``root/name/``; create one with ``RunDir.create``, reopen one (to resume it) with
    ``RunDir.reopen`` or ``RunDir(path)``.

    ``tensorboard=True`` mirrors what the run logs into ``tensorboard/`` (``hjepa.runs.tensorboard``):
    ``log`` writes each number as a scalar, ``publish`` a PNG or GIF as images; ``close`` flushes.
    Without the tensorboard package these do nothing (one warning), and ``metrics.jsonl`` is the same.
    """

    def __init__(self, root: Path | str, tensorboard: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"run directory not found: {self.root}")
        self.tensorboard = TensorBoardWriter(self.root / TENSORBOARD_DIR if tensorboard else None)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    @classmethod
    def reopen(cls, root: Path | str, name: str, tensorboard: bool = False) -> "RunDir":
        """The existing run ``root/name/``, to resume it: new metrics are appended to its
        ``metrics.jsonl``, new TensorBoard events go to a new event file beside the old ones.

        Raises:
            FileNotFoundError: ``root/name`` is not a directory (the message names the path).
        """
        run = Path(root) / name
        if not run.is_dir():
            raise FileNotFoundError(f"cannot resume run {run}: no such run directory")
        return cls(run, tensorboard=tensorboard)

    @classmethod
    def create(cls, root: Path | str, name: str, overwrite: bool = False, tensorboard: bool = False) -> "RunDir":
        """Make ``root/name/`` and ``root/name/checkpoints/``; ``tensorboard`` mirrors the run into
        ``root/name/tensorboard/`` (see the class docstring).

        Raises:
            ValueError: ``name`` is empty or contains a path separator.
            FileExistsError: ``root/name`` exists and is non-empty (or is a file) and not
                ``overwrite``; with ``overwrite`` the old content moves to ``name.old-<timestamp>``.
            PermissionError: ``root`` (or its nearest existing parent) is not writable.
            NotADirectoryError: ``root`` or one of its parents is a regular file.
        """
        root = Path(root)
        if not name or name in (".", "..") or "/" in name or os.sep in name:
            raise InputError(f"run name must be a single non-empty path component, got {name!r}")
        _check_root_writable(root)
        run = root / name
        if run.exists() and (run.is_file() or any(run.iterdir())):
            if not overwrite:
                raise FileExistsError(
                    f"run directory {run} already exists and is not empty; pass a new --name, or "
                    "--overwrite to move the old run aside (it is renamed, never deleted)"
                )
            move_aside(run)
        try:
            (run / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        except PermissionError as err:
            raise PermissionError(f"cannot create run directory {run}: permission denied") from err
        return cls(run, tensorboard=tensorboard)

    def path(self, relpath: str | Path) -> Path:
        """Absolute-ish path of ``relpath`` inside the run directory."""
        return self.root / relpath

    def write_json(self, relpath: str | Path, obj: Any) -> Path:
        """Atomically write ``obj`` (converted by ``to_jsonable``) as indented JSON."""
        text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n"
        return atomic_write_text(self.path(relpath), text)

    def write_config(self, config: Any, command: str | None = None) -> Path:
        """Write a dataclass (or dict) to ``config.json``, with what made the run (the command line,
        hjepa version, git commit, machine) under the reserved key ``run``. ``command`` names the
        ``hjepa`` subcommand whose ``--config`` re-runs it."""
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            config = dataclasses.asdict(config)
        if not isinstance(config, dict):
            raise InputError(f"config must be a dataclass instance or dict, got {type(config).__name__}")
        return self.write_json(CONFIG_FILE, {**config, RUN_KEY: provenance(command)})

    def log(self, metrics: dict, step: int | None = None) -> dict:
        """Append ``{"step": step, **metrics}`` as one line of ``metrics.jsonl`` and flush.

        Tensors and numpy scalars become floats; returns the record written. With TensorBoard on,
        each number of the record (not ``step``; null, text and lists skipped) is also a scalar at ``step``.
        """
        record: dict = {} if step is None else {"step": int(step)}
        for key, value in metrics.items():
            record[str(key)] = to_jsonable(value)  # NaN / inf become null: strict JSON
        line = json.dumps(record, allow_nan=False) + "\n"
        with open(self.path(METRICS_FILE), "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
        self.tensorboard.scalars({str(key): record[str(key)] for key in metrics}, step)
        return record

    def publish(self, path: str | Path, tag: str | None = None, step: int = 0) -> None:
        """Show the PNG or GIF at ``path`` (absolute, relative to the run, or ``run.path(...)``) in
        TensorBoard: a PNG as one image at ``step``, a GIF as one image per frame (steps = frame
        indices, at most 64 frames), under ``tag`` (default: the path relative to the run, e.g.
        ``episodes.gif``). Nothing happens when TensorBoard is off; the file itself is left as it is.

        Raises (only when TensorBoard is on):
            FileNotFoundError: no such file.
            InputError: not a .png or .gif file.
        """
        if not self.tensorboard.enabled:
            return
        path = Path(path)
        if not path.is_absolute() and not path.is_relative_to(self.root):
            path = self.root / path
        if tag is None:
            inside = path.resolve().is_relative_to(self.root.resolve())
            tag = path.resolve().relative_to(self.root.resolve()).as_posix() if inside else path.name
        self.tensorboard.image_file(path, tag, step)

    def close(self) -> None:
        """Flush and close the TensorBoard event file (nothing else is held open); the run stays usable."""
        self.tensorboard.close()

    def publish_figures(self) -> None:
        """:meth:`publish` every PNG and GIF at the top of the run directory (its figures), then
        :meth:`close`; what a recipe calls when its report is written."""
        for path in sorted([*self.root.glob("*.png"), *self.root.glob("*.gif")]):
            self.publish(path)
        self.close()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save_checkpoint(self, name: str, state: dict) -> Path:
        """Atomically save ``state`` to ``checkpoints/<name>.pt``.

        ``state`` may hold tensors (moved to CPU), numbers, strings, None, lists and dicts, so that
        ``torch.load(path, weights_only=True)`` reads it; anything else raises ``ValueError``.
        """
        if not isinstance(state, dict):
            raise InputError(f"checkpoint state must be a dict, got {type(state).__name__}")
        if not name or "/" in name or os.sep in name:
            raise InputError(f"checkpoint name must be a plain file name, got {name!r}")
        safe = _checkpoint_safe(state, "state")
        dest = self.root / CHECKPOINT_DIR / (name if name.endswith(".pt") else f"{name}.pt")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.fchmod(fd, file_mode())
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(safe, f)
                f.flush()
                os.fsync(f.fileno())
            _fsync_replace(Path(tmp_name), dest)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return dest

    def load_checkpoint(self, path: str | Path, map_location: str | torch.device = "cpu") -> dict:
        """Load a checkpoint by absolute path, path relative to the run, or bare name
        (``"last"`` -> ``checkpoints/last.pt``). See module-level ``load_checkpoint`` for errors."""
        path = Path(path)
        if not path.is_absolute():
            candidates: Iterable[Path] = (
                self.root / path,
                self.root / CHECKPOINT_DIR / path,
                self.root / CHECKPOINT_DIR / f"{path}.pt",
            )
            path = next((c for c in candidates if c.is_file()), self.root / CHECKPOINT_DIR / path)
        return load_checkpoint(path, map_location)

    def checkpoints(self) -> list[Path]:
        """Checkpoint files of this run, oldest first."""
        return sorted((self.root / CHECKPOINT_DIR).glob("*.pt"), key=lambda p: p.stat().st_mtime)
