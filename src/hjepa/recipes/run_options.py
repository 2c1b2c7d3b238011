"""What every training command shares: where the run goes and how it runs.

Each command's job dataclass inherits :class:`RunOptions` (keyword-only fields, so a job's own
required fields may follow), so ``--name``, ``--runs-root``, ``--overwrite``, ``--seed``,
``--threads``, ``--device``, ``--progress``, ``--log`` and ``--resume`` mean the same everywhere and
have the same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from hjepa.errors import InputError


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
    """Seed of data, initialisation and training: the same seed repeats the run."""
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
