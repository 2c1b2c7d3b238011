"""What every training command shares: where the run goes and how it runs.

Each command's job dataclass inherits :class:`RunOptions` (keyword-only fields, so a job's own
required fields may follow), so ``--name``, ``--runs-root``, ``--overwrite``, ``--seed``,
``--threads``, ``--device``, ``--progress``, ``--log`` and ``--resume`` mean the same everywhere and
have the same defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from hjepa.errors import InputError, check_seed
from hjepa.runs.run_dir import CONFIG_FILE, RunDir, to_jsonable


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Where the run goes and how it runs."""

    name: str = "run"
    """Run name: results go to <runs_root>/<name>/."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    overwrite: bool = False
    """Replace an existing run of the same name (the old one is moved aside, never deleted)."""
    seed: int = 0
    """Seed of data, initialisation and training (0 <= seed < 2**53): the same seed repeats the run."""
    threads: int = 0
    """Torch CPU threads (0: leave torch's default, one per core)."""
    device: str = "auto"
    """Torch device of the models and planners: auto (a GPU if there is one, else the CPU), cpu, cuda,
    cuda:1...; environments and data stay on the CPU."""
    progress: bool = True
    """Show progress: bars on a terminal, a plain line every few seconds in a log file."""
    log: Literal["tensorboard", "none"] = "tensorboard"
    """Also write metrics, figures and the episode GIF as TensorBoard events in <run>/tensorboard/
    (when the tensorboard package is installed; metrics.jsonl is always written)."""
    resume: bool = False
    """Continue <runs_root>/<name> from its last checkpoint after an interruption (same options; the result
    equals an uninterrupted run)."""

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise InputError(f"threads must be >= 0, got {self.threads}")
        check_seed("seed", self.seed)
        if self.resume and self.overwrite:
            raise InputError("--resume continues an existing run and --overwrite moves it aside: choose one")


def resolve_device(device: str) -> torch.device:
    """``'auto'`` -> ``cuda`` when a GPU is visible, else ``cpu``; other names are checked."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise InputError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but no GPU is visible to torch")
    return resolved


def apply_threads(threads: int) -> None:
    """Set torch's CPU threads (0: leave its default)."""
    if threads > 0:
        torch.set_num_threads(threads)


VOLATILE = ("resume", "overwrite", "progress", "log", "run", "resolved")
"""Options a resumed run may change (they do not touch the numbers), and config.json's reserved keys."""


def open_run(job: RunOptions, command: str, resolved: dict | None = None, name: str | None = None) -> RunDir:
    """The run directory of ``job`` (named ``name``, default ``job.name``).

    New: created (an existing non-empty one is refused unless ``--overwrite``, which moves it aside)
    and ``config.json`` written. With ``--resume``: the existing one, after checking that it has not
    finished and that it ran with the same options (those in :data:`VOLATILE` may differ).
    ``resolved`` is written into config.json beside the options (settings derived from them).
    """
    name = job.name if name is None else name
    tensorboard = job.log == "tensorboard"
    config = {**to_jsonable(job), **({"resolved": resolved} if resolved is not None else {})}
    if not job.resume:
        run = RunDir.create(job.runs_root, name, overwrite=job.overwrite, tensorboard=tensorboard)
        run.write_config(config, command)
        return run
    root = Path(job.runs_root) / name
    stored_path = root / CONFIG_FILE
    if not stored_path.is_file():
        raise FileNotFoundError(f"--resume: {stored_path} does not exist: there is no run {name!r} to continue "
                                "(start it without --resume)")
    if (root / "summary.json").exists():
        raise InputError(f"--resume: the run {root} has finished (its summary.json exists); there is nothing to continue")
    try:
        stored = json.loads(stored_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"--resume: {stored_path} cannot be read: {error}") from error
    differ = sorted(k for k in set(stored) | set(config) if k not in VOLATILE and stored.get(k) != config.get(k))
    if differ:
        raise InputError(f"--resume continues a run with the options it started with; these differ: {', '.join(differ)}")
    return RunDir.reopen(job.runs_root, name, tensorboard=tensorboard)
