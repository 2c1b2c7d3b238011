"""PushT, PointMaze, Pendulum and reacher from pixels with DINO-WM's protocol: success and CPU time.

Each row is one ``hjepa gym`` run (parsed by tyro and run in-process, so any option works in
``--extra-args``), read back from its ``summary.json``: success of the learned planner (checked
every planner step, and at the end), the fraction of goals already met at the start, random
actions, the held-out episode's own actions (open loop), and the CPU seconds (process time, one
torch thread) of data collection, training and the planning evaluation.

Suites:
    main    one run per environment with the job's defaults (about 15 CPU-minutes each);
    curve   a learning curve: the same data (collected once), ``--curve-steps`` training steps
            each, success against training CPU time;
    random-state  PointMaze with DINO-WM's own PointMaze goals (start and goal anywhere in the
            maze at rest), 200 steps, CEM 300 x 10 (its plan_point_maze config), planning with the
            `main` run's world model and data.

    python benchmarks/external_envs.py --suite main
    python benchmarks/external_envs.py --suite curve --curve-env pusht --curve-dataset runs/bench/bench-gym-pusht/data
    python benchmarks/external_envs.py --suite main --reuse        # tabulate runs already made

Results: ``<out_dir>/external_envs_<suite>.json``; commentary in ``external_envs_targets.md``.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from common import RESULTS_DIR, write_result
from hjepa.recipes.gym import GymCommand

PUBLISHED = {
    "pusht": "DINO-WM 90%, PLDM 70-78%, LeWM 88-96% (GPU training)",
    "pointmaze": "DINO-WM ~98% (GPU training)",
    "pendulum": "no published figure (our protocol)",
    "reacher": "no published goal-image figure (our protocol)",
}


@dataclass(frozen=True)
class Config:
    """External-environment benchmark."""

    suite: Literal["main", "curve", "random-state"] = "main"
    """Which set of runs."""
    envs: tuple[str, ...] = ("pusht", "pointmaze", "pendulum", "reacher")
    """Environments of the `main` suite."""
    curve_env: str = "pusht"
    """Environment of the `curve` suite."""
    curve_steps: tuple[int, ...] = (1000, 2000, 4000, 8000)
    """Training steps of the `curve` suite's runs."""
    curve_dataset: Path | None = None
    """Data directory every `curve` run trains on (e.g. the main run's runs/bench/bench-gym-pusht/data);
    None: the first run collects it."""
    extra_args: str = ""
    """`hjepa gym` arguments appended to every run, one quoted string: --extra-args="--train.steps 30"."""
    runs_root: Path = Path("runs/bench")
    """Where the run directories go (bench-gym-<env>[-<steps>])."""
    reuse: bool = False
    """Read runs that already have a summary.json instead of running them again."""
    out_dir: Path = RESULTS_DIR
    """Where external_envs_<suite>.json is written."""


def run_one(config: Config, name: str, args: list[str]) -> dict:
    summary_path = config.runs_root / name / "summary.json"
    if config.reuse and summary_path.is_file():
        return json.loads(summary_path.read_text())
    argv = ["--name", name, "--runs-root", str(config.runs_root), "--overwrite", *args, *shlex.split(config.extra_args)]
    command = tyro.cli(GymCommand, args=argv)
    return command.run()


def row(label: str, summary: dict) -> dict:
    controllers = summary["controllers"]
    random = controllers.get("random actions", {})
    replay = controllers.get("held-out episode's own actions (open loop)", {})
    cpu = summary["cpu_seconds"]
    return {
        "run": label, "env": summary["env_id"], "success": summary["success_rate"],
        "final_success": summary["final_success_rate"], "solved_at_start": summary["start_success_rate"],
        "random_success": random.get("success_rate"), "replay_success": replay.get("success_rate"),
        "episodes": summary["episodes"], "train_steps": summary["train_steps"],
        "data_cpu_s": cpu["data"], "train_cpu_s": cpu["train"], "plan_cpu_s": cpu["plan"],
        "total_cpu_min": sum(cpu.values()) / 60.0, "probe_r2": summary["world_model"].get("probe_r2"),
        "published": PUBLISHED.get(summary["env"], ""),
    }


COLUMNS = ["run", "env", "success", "final_success", "solved_at_start", "random_success", "replay_success",
           "episodes", "train_steps", "data_cpu_s", "train_cpu_s", "plan_cpu_s", "total_cpu_min", "probe_r2",
           "published"]


def main(config: Config) -> Path:
    rows = []
    if config.suite == "main":
        for env in config.envs:
            rows.append(row(env, run_one(config, f"bench-gym-{env}", ["--env", env])))
        title = "External environments from pixels (issue 6): DINO-WM protocol, about 15 CPU-minutes each"
        description = (
            "One `hjepa gym --env <env>` run per environment with its defaults, 1 torch thread: reward-free "
            "exploration data, a JEPA world model trained from scratch on 64x64 frames (pooled to 32x32), CEM "
            "300 samples x 30 iterations, horizon 5 x frameskip 5, re-planned every 5 steps, on 50 goals that "
            "held-out episodes reached 25 steps after the start (seed 99), 50 steps allowed. success: the "
            "environment's success test passed at some check (every 5 steps); final_success: at the end; "
            "solved_at_start: goals already met before acting; replay: the held-out episode's own actions. "
            "CPU seconds are process time (the machine was shared with other jobs).")
    elif config.suite == "random-state":
        base = config.runs_root / "bench-gym-pointmaze"
        args = ["--env", "pointmaze", "--eval.goal-source", "random_state", "--eval.budget-steps", "200",
                "--plan.iterations", "10", "--dataset", str(base / "data"),
                "--checkpoint", str(base / "checkpoints" / "world_model.pt")]
        rows.append(row("pointmaze random_state", run_one(config, "bench-gym-pointmaze-random-state", args)))
        title = "PointMaze with DINO-WM's random-state goals (issue 6)"
        description = (
            "The `main` PointMaze world model, planning from a start to a goal drawn anywhere in the U-maze's "
            "corridors at rest (seed 99), 200 environment steps, CEM 300 samples x 10 iterations (DINO-WM's "
            "plan_point_maze), success = within 0.5, checked every 5 steps. No reference actions exist.")
    else:
        data = config.curve_dataset
        for steps in config.curve_steps:
            args = ["--env", config.curve_env, "--train.steps", str(steps)]
            if data is not None:
                args += ["--dataset", str(data)]
            name = f"bench-gym-{config.curve_env}-{steps}"
            rows.append(row(f"{steps} steps", run_one(config, name, args)))
            data = config.runs_root / name / "data" if data is None else data
        title = f"Learning curve on {config.curve_env}: success against training CPU time (issue 6)"
        description = (
            f"`hjepa gym --env {config.curve_env} --train.steps N` for each N, every run on the same collected "
            "data (data_cpu_s is then only its loading), evaluated with the same protocol and tasks as the main "
            "table; train_cpu_s is the x axis of the curve.")
    return write_result(config.out_dir, f"external_envs_{config.suite}", title, description, config, COLUMNS, rows)


if __name__ == "__main__":
    main(tyro.cli(Config))
