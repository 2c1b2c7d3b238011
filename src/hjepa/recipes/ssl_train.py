"""`hjepa ssl train`: self-supervised pre-training of an image encoder, then its frozen evaluation
(the trainer is :mod:`hjepa.ssl.trainer`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro

from hjepa.ssl.config import SSLTrainConfig
from hjepa.ssl.trainer import run_ssl_training


@dataclass(frozen=True)
class SSLTrainCommand:
    """Self-supervised pre-training of an image encoder, then its frozen evaluation (linear probe,
    k-NN, 1% / 10% labels, effective rank). Multi-process: torchrun --nproc-per-node N -m hjepa ssl train ..."""

    config: Annotated[SSLTrainConfig, tyro.conf.arg(name="")] = field(default_factory=SSLTrainConfig)
    name: str = "ssl"
    """Run name: results go to <runs_root>/<name>/."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    overwrite: bool = False
    """Replace an existing run of the same name (the old one is moved aside, never deleted)."""
    resume: bool = False
    """Continue <runs_root>/<name> from its checkpoints/last.pt (same options; the result equals an
    uninterrupted run)."""
    stop_at: int | None = None
    """Stop after this many steps with a checkpoint, to continue later with --resume."""

    def run(self) -> dict:
        return run_ssl_training(self.config, self.name, self.runs_root, self.overwrite, self.resume, self.stop_at)


def ssl_summary_line(summary: dict) -> str | None:
    """One line about an SSL run (None on ranks other than 0 of a distributed run)."""
    if "stopped_at" in summary:
        return f"stopped at step {summary['stopped_at']} of {summary['steps']}; continue with --resume"
    if "linear_acc" not in summary:
        return None
    speed = f"; {summary['images_per_second']:.0f} images/s" if "images_per_second" in summary else ""
    return (f"linear probe {summary['linear_acc']:.1%}, k-NN {summary['knn_acc']:.1%}, "
            f"1% labels {summary['semi_1pct_acc']:.1%}, effective rank {summary['effective_rank']:.1f}"
            f"{' (collapsed)' if summary['collapsed'] else ''}{speed}")
