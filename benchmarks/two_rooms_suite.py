"""Quality benchmarks of the main job: sets of ``hjepa two-rooms`` runs, one table per suite.

Each run is the CLI command parsed by tyro and run in-process (``TwoRoomsCommand``), so every
`hjepa two-rooms` option works in ``--extra-args`` (appended last: it overrides the suite's own).
Each row: success rate of the learned planner, of random actions and of the planner on the true
simulator, planning ms per env step (batched), train and total seconds, from the run's summary.json.

Suites:
    demo            the default config (random layouts);
    fixed           ``--layout fixed``;
    long            ``--train.steps`` = ``--long-steps`` (default 4x the demo's) and more practice
                    (``--long-practice``: rounds, tasks, steps);
    generalisation  train with wall x in ``--wall-band`` and door y in ``--door-band`` held out of the
                    data, evaluate only on layouts inside those bands;
                    (long and generalisation plan at every decision: ``--plan.replan-every 1``);
    ablation        the full objective, then variance, covariance, smoothness and inverse dynamics
                    weights set to 0 in turn (eb_jepa reports 97/47/46/61/1% success).

    python benchmarks/two_rooms_suite.py --suite ablation
    python benchmarks/two_rooms_suite.py --suite fixed --extra-args="--train.steps 500 --eval.episodes 50"
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from common import RESULTS_DIR, write_result
from hjepa.recipes.two_rooms import TwoRoomsCommand
from hjepa.recipes.two_rooms_config import DEFAULT_TRAIN_STEPS

ABLATIONS = ("variance", "covariance", "smoothness", "inverse-dynamics")
EB_JEPA_ABLATION = {"full": 0.97, "variance": 0.47, "covariance": 0.46, "smoothness": 0.61, "inverse-dynamics": 0.01}


@dataclass(frozen=True)
class Config:
    """Two Rooms quality suite."""

    suite: Literal["demo", "fixed", "long", "generalisation", "ablation"] = "demo"
    """Which set of runs."""
    extra_args: str = ""
    """`hjepa two-rooms` arguments appended to every run, one quoted string: --extra-args="--train.steps 30"."""
    long_steps: int = 4 * DEFAULT_TRAIN_STEPS["random"]
    """--train.steps of the `long` suite."""
    long_practice: tuple[int, int, int] = (6, 512, 500)
    """--practice.rounds, --practice.tasks and --practice.steps of the `long` suite."""
    wall_band: tuple[int, int] = (29, 32)
    """Held-out wall x band of the `generalisation` suite (inclusive)."""
    door_band: tuple[float, float] = (28.0, 35.0)
    """Held-out door y band of the `generalisation` suite."""
    runs_root: Path = Path("runs/bench")
    """Where the run directories go (bench-<suite>-<row>)."""
    out_dir: Path = RESULTS_DIR
    """Where two_rooms_suite_<suite>.json is written."""


def suite_runs(config: Config) -> list[tuple[str, list[str]]]:
    """(row label, `hjepa two-rooms` arguments) of each run of the suite."""
    if config.suite == "demo":
        return [("demo defaults", [])]
    if config.suite == "fixed":
        return [("fixed layout", ["--layout", "fixed"])]
    # The quality suites plan at every decision (their targets are success, not planning time;
    # the demo's replanning every 4 decisions cost 0-5 points on the models measured).
    every_decision = ["--plan.replan-every", "1"]
    if config.suite == "long":
        rounds, tasks, steps = config.long_practice
        return [(f"{config.long_steps} train steps, {rounds} x {tasks} practice tasks / {steps} steps",
                 ["--train.steps", str(config.long_steps), "--practice.rounds", str(rounds),
                  "--practice.tasks", str(tasks), "--practice.steps", str(steps), *every_decision])]
    if config.suite == "generalisation":
        wall = [str(v) for v in config.wall_band]
        door = [str(v) for v in config.door_band]
        return [(f"held-out wall x {config.wall_band}, door y {config.door_band}",
                 ["--data.wall-band", *wall, "--data.door-band", *door,
                  "--eval.wall-band", *wall, "--eval.door-band", *door, *every_decision])]
    if config.suite == "ablation":
        return [("full", [])] + [(f"{term}=0", [f"--loss.{term}", "0"]) for term in ABLATIONS]
    raise ValueError(f"unknown suite {config.suite!r}")


def run_one(config: Config, label: str, args: list[str]) -> dict:
    name = f"bench-{config.suite}-{label.split(' ')[0].replace('=', '').replace('.', '')}"
    argv = ["--name", name, "--runs-root", str(config.runs_root), "--overwrite", *args, *shlex.split(config.extra_args)]
    command = tyro.cli(TwoRoomsCommand, args=argv)
    start = time.perf_counter()
    summary = command.run()
    wall = time.perf_counter() - start
    by_kind = {k.split(" + ")[0]: v for k, v in summary["controllers"].items()}
    return {
        "run": label,
        "success_rate": summary["success_rate"],
        "random_success_rate": by_kind.get("random actions", {}).get("success_rate"),
        "simulator_success_rate": by_kind.get("true simulator", {}).get("success_rate"),
        "planning_ms_per_step": summary["planning_ms_per_step"],
        "train_seconds": summary["train_seconds"],
        "total_seconds": summary["total_seconds"],
        "wall_seconds": wall,
        "episodes": summary["episodes"],
        "train_steps": summary["train_steps"],
        "hjepa_args": shlex.join(argv),
    }


def main(config: Config) -> Path:
    rows = []
    for label, args in suite_runs(config):
        row = run_one(config, label, args)
        if config.suite == "ablation":
            row["eb_jepa_success_rate"] = EB_JEPA_ABLATION[label.removesuffix("=0")]
        rows.append(row)
    columns = ["run", "success_rate", "random_success_rate", "simulator_success_rate", "planning_ms_per_step",
               "train_seconds", "total_seconds", "episodes", "train_steps"]
    if config.suite == "ablation":
        columns.insert(2, "eb_jepa_success_rate")
    return write_result(
        config.out_dir, f"two_rooms_suite_{config.suite}", f"Two Rooms quality: {config.suite} suite",
        "`hjepa two-rooms` runs (in-process); success rates of the learned-model planner, random actions and "
        "the planner on the true simulator over the cross-room evaluation tasks; planning ms per env step "
        "(batched over episodes); train and total seconds from summary.json. Per-run arguments are in the JSON.",
        config, columns, rows,
        notes="Extra args: " + (config.extra_args or "none") + ".",
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
