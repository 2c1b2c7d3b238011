"""Resuming an interrupted run: one state file written atomically, read back after a crash.

A recipe saves a :class:`ResumePoint` whenever a stage ends and periodically inside long training
loops: ``checkpoints/resume.pt`` holds the stage's name, the state it needs to continue (weights,
optimiser, counters, data made so far), every random generator's state and the length the metrics
log had at that moment. With ``--resume`` the recipe reads it back, cuts ``metrics.jsonl`` to that
length (the lines written after it are written again), restores the generators when it reaches the
saved point, and continues: the result equals the uninterrupted run's, bit for bit where the
computation is deterministic. A ``kill -9`` between two saves loses only the work since the last.
"""

from __future__ import annotations

import os

import torch

from hjepa.runs.run_dir import METRICS_FILE, RunDir, load_checkpoint

RESUME_FILE = "resume"
"""``checkpoints/resume.pt``."""


class ResumePoint:
    """Saves and restores one run's resume state.

    Args:
        run: the run directory.
        generators: the run's random generators by name (torch's global generator is always
            included); their states are saved with every point and restored by :meth:`restore_rng`.
    """

    def __init__(self, run: RunDir, generators: dict[str, torch.Generator]) -> None:
        self.run = run
        self.generators = generators

    def save(self, stage: str, state: dict) -> None:
        """Atomically write ``{stage, state, rng, metrics_bytes}`` to ``checkpoints/resume.pt``."""
        metrics = self.run.path(METRICS_FILE)
        rng = {"torch": torch.get_rng_state(), **{k: g.get_state() for k, g in self.generators.items()}}
        self.run.save_checkpoint(RESUME_FILE, {"stage": stage, "state": state, "rng": rng,
                                               "metrics_bytes": metrics.stat().st_size if metrics.exists() else 0})

    def load(self) -> tuple[str, dict, dict] | None:
        """``(stage, state, rng)`` of the last point, or None if the run never saved one; cuts the
        metrics log back to the length it had then (to empty when there is no point)."""
        path = self.run.path(f"checkpoints/{RESUME_FILE}.pt")
        payload = load_checkpoint(path) if path.exists() else None
        metrics = self.run.path(METRICS_FILE)
        if metrics.exists():
            keep = int(payload["metrics_bytes"]) if payload is not None else 0
            with open(metrics, "r+b") as f:
                f.truncate(min(keep, os.path.getsize(metrics)))
        if payload is None:
            return None
        return str(payload["stage"]), payload["state"], payload["rng"]

    def restore_rng(self, rng: dict) -> None:
        """Put torch's global generator and the named generators back where the point saved them."""
        torch.set_rng_state(rng["torch"])
        for name, generator in self.generators.items():
            generator.set_state(rng[name])
