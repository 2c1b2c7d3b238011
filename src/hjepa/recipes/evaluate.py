"""`hjepa evaluate`: plan with a trained Two Rooms world model on fresh cross-room tasks (no training)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hjepa.control.plan_config import PlanConfig
from hjepa.recipes.two_rooms import run_two_rooms
from hjepa.recipes.two_rooms_config import DataConfig, EvalConfig, TwoRoomsJob


@dataclass(frozen=True)
class EvaluateCommand:
    """Plan with a trained world model on fresh cross-room tasks (no training)."""

    checkpoint: Path
    """World-model checkpoint written by `hjepa two-rooms` (runs/<name>/checkpoints/world_model.pt)."""
    name: str = "evaluate"
    """Run name: results go to <runs_root>/<name>/."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    overwrite: bool = False
    """Replace an existing run of the same name (the old one is moved aside)."""
    layout: Literal["random", "fixed"] = "random"
    """Layouts of the evaluation tasks."""
    progress: bool = True
    """Show progress bars."""
    threads: int = 0
    """Torch CPU threads (0: leave torch's default)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """bf16 autocast for the predictor while planning ('auto': where the CPU has native bf16)."""
    plan: PlanConfig = field(default_factory=PlanConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def run(self) -> dict:
        job = TwoRoomsJob(
            name=self.name, runs_root=self.runs_root, overwrite=self.overwrite, layout=self.layout,
            progress=self.progress, threads=self.threads, precision=self.precision, plan=self.plan, eval=self.eval,
            data=DataConfig(episodes=1, heldout_episodes=300), checkpoint=self.checkpoint,
        )
        return run_two_rooms(job)
