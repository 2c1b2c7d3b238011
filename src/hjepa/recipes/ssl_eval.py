"""`hjepa ssl eval`: the frozen evaluation of an SSL checkpoint, again (its stored config rebuilds the
encoder; :mod:`hjepa.ssl.evaluation`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hjepa.ssl.evaluation import evaluate_ssl


@dataclass(frozen=True)
class SSLEvalCommand:
    """Re-run the frozen evaluation of an SSL checkpoint (its stored config rebuilds the encoder)."""

    checkpoint: Path
    """Checkpoint written by `hjepa ssl train` (runs/<name>/checkpoints/last.pt)."""
    name: str = "ssl-eval"
    """Run name: results go to <runs_root>/<name>/."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    overwrite: bool = False
    """Replace an existing run of the same name (the old one is moved aside, never deleted)."""
    device: str = "auto"
    """Torch device: auto (a GPU if any, else the CPU), cpu, cuda, cuda:1..."""
    threads: int = 0
    """Torch CPU threads (0: leave torch's default)."""

    def run(self) -> dict:
        return evaluate_ssl(self.checkpoint, self.name, self.runs_root, self.overwrite, self.device, self.threads)
