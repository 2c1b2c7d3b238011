"""PushT, reacher and cube on stable-worldmodel's protocol: one row per (env, recipe, controller, split).

Protocol (docs/environments.md, "stable-worldmodel's protocol"): each task starts on a trajectory
of a privileged expert (hjepa.envs.experts) and its goal is the trajectory's observation 25
steps later; 50 tasks, 50 environment steps, CEM 300 samples x 30 iterations, top 30, horizon 5
planner steps of 5 environment steps, re-planned every planner step. Success is the
environment's own test, the first time it holds (``success_rate``) and at the last step
(``final_success_rate``).

For each environment and recipe: one ``hjepa gym`` run trains the world model and evaluates on
the **validation** tasks (every choice is made there); a second run reuses its checkpoint and
data and evaluates once on the **test** tasks (their own seed and expert trajectories).
``cpu_minutes`` is the process time of the validation run (data + training + planning, one torch
thread; the true-simulator baseline's planning left out). Random actions are the baseline row of
each split; ``simulator`` is the same planner on the true simulator with a cost on true states
(``--eval.simulator``; PushT's with a smaller budget, named in its label), run with the first
recipe of each environment only: it does not depend on the world model. A recipe in ``CONTINUES``
(``pldm-proprio-3x-practice``) starts from another recipe's trained model and data and adds its
practice rounds; its ``cpu_minutes`` count both runs.

    python benchmarks/peer_protocol.py                               # every env x recipe
    python benchmarks/peer_protocol.py --envs reacher --recipes pldm-proprio
    python benchmarks/peer_protocol.py --reuse                       # tabulate runs already made

Results: ``<out_dir>/peer_protocol.json``.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import tyro

from common import RESULTS_DIR, command_line, write_result
from hjepa.recipes.gym import GymCommand

RECIPES = {
    "pldm": ["--objective", "pldm"],
    "pldm-proprio": ["--objective", "pldm", "--model.proprio"],
    "lewm-proprio": ["--objective", "lewm", "--model.proprio"],
    "pldm-proprio-expert": ["--objective", "pldm", "--model.proprio", "--data.expert-episodes", "100"],
    "pldm-proprio-3x": ["--objective", "pldm", "--model.proprio", "--data.episodes", "2400", "--train.steps", "12000"],
    "pldm-proprio-3x-practice": ["--objective", "pldm", "--model.proprio", "--practice.rounds", "3",
                                 "--practice.tasks", "100", "--practice.steps", "2000"],
    "pldm-proprio-play": ["--objective", "pldm", "--model.proprio", "--data.expert-episodes", "200",
                          "--data.heldout-episodes", "20"],
}
"""The recipes compared: ``hjepa gym`` options added to the protocol's own."""
CONTINUES = {"pldm-proprio-3x-practice": "pldm-proprio-3x"}
"""Recipes that continue another recipe's trained model (its run's checkpoint and data, which must exist):
their ``cpu_minutes`` add that run's data + training CPU to their own, and their test run evaluates the
continued model without practising again."""
DATA = {
    "pldm": "exploration", "pldm-proprio": "exploration", "lewm-proprio": "exploration",
    "pldm-proprio-expert": "exploration + 100 expert episodes", "pldm-proprio-3x": "exploration (2400 episodes)",
    "pldm-proprio-3x-practice": "exploration (2400 episodes) + 3 x 100 practice episodes (own plans toward "
                                "goals on expert trajectories of a training seed)",
    "pldm-proprio-play": "exploration (cube: 60 episodes) + 200 expert pick-and-place episodes",
}
PROTOCOL = ["--eval.goal-source", "expert", "--eval.goal-steps", "25", "--eval.budget-steps", "50", "--eval.episodes", "50"]
CONTROLLERS = {"learned": "JEPA world model +", "random": "random actions", "simulator": "true simulator +"}
"""Row key -> the start of the controller's label in summary.json, which adds the planner and may add its budget
('true simulator + CEM 64x6', 'JEPA world model + MPPI')."""


@dataclass(frozen=True)
class Config:
    """stable-worldmodel's protocol on PushT and reacher."""

    envs: tuple[str, ...] = ("reacher", "pusht")
    recipes: tuple[str, ...] = ("pldm-proprio", "lewm-proprio")
    """Keys of RECIPES."""
    extra_args: str = ""
    """`hjepa gym` arguments appended to every run, one quoted string."""
    runs_root: Path = Path("runs/bench")
    threads: int = 1
    reuse: bool = False
    """Read runs that already have a summary.json instead of running them again."""
    simulator: bool = True
    """Run the same planner on the true simulator with the first recipe of each environment."""
    reevaluate: bool = False
    """Evaluate the validation split again from the training run's checkpoint (as run <name>-validation), e.g.
    after a fix to the evaluation; ``cpu_minutes`` is then the training run's data + training CPU plus the new
    evaluation's planning CPU."""
    keep_others: bool = False
    """Keep the rows of (env, recipe) pairs this run does not measure from the existing result file (each
    kept row names its own command), instead of dropping them."""
    out_dir: Path = RESULTS_DIR


def run_one(config: Config, name: str, args: list[str], last: tuple[str, ...] = ()) -> dict:
    """The summary of ``hjepa gym`` run ``name`` with ``args``, then ``--extra-args``, then ``last`` (which
    wins over both); with ``--reuse``, read from an existing run instead."""
    summary_path = config.runs_root / name / "summary.json"
    if config.reuse and summary_path.is_file():
        return json.loads(summary_path.read_text())
    argv = ["--name", name, "--runs-root", str(config.runs_root), "--overwrite", "--threads", str(config.threads),
            "--no-progress", *args, *shlex.split(config.extra_args), *last]
    return tyro.cli(GymCommand, args=argv).run()


def rows_of(env: str, recipe: str, split: str, summary: dict, cpu_minutes: float, data: str | None = None,
            **extra) -> list[dict]:
    """One row per controller of ``summary`` (those it ran); ``data`` names the training data (default:
    ``DATA[recipe]``) and ``extra`` fields are appended to every row."""
    rows = []
    for controller, label in CONTROLLERS.items():
        result = controller_result(summary, label)
        if result is None:
            continue
        rows.append({
            "env": env, "protocol": "stable-wm", "recipe": recipe, "data": DATA.get(recipe, "") if data is None else data,
            "controller": controller,
            "split": split, "episodes": summary["episodes"], "success_rate": result["success_rate"],
            "final_success_rate": result["final_success_rate"], "stderr": binomial_stderr(result["success_rate"], summary["episodes"]),
            "solved_at_start": summary["start_success_rate"], "cpu_minutes": cpu_minutes,
            "planning_ms_per_step": result.get("planning_ms_per_step"),
            "probe_r2": summary["world_model"].get("probe_r2"), **extra,
        })
    return rows


def controller_result(summary: dict, label: str) -> dict | None:
    """The summary's row of the controller ``label`` (or of ``label`` with its budget appended), or None."""
    return next((row for name, row in summary["controllers"].items() if name == label or name.startswith(label + " ")), None)


def binomial_stderr(rate: float, n: int) -> float:
    return (rate * (1.0 - rate) / max(n, 1)) ** 0.5


TWO_ROOMS_NOTES = "Two Rooms rows, from"
"""Starts the Two Rooms part of the result's notes (peer_protocol_two_rooms.py; replaced with its rows)."""
COLUMNS = ["env", "protocol", "recipe", "data", "controller", "split", "episodes", "success_rate", "stderr",
           "final_success_rate", "solved_at_start", "cpu_minutes", "planning_ms_per_step", "probe_r2"]


def main(config: Config) -> Path:
    rows = []
    for env in config.envs:
        for recipe in config.recipes:
            name = f"peer-{env}-{recipe}"
            protocol = PROTOCOL + (["--eval.simulator"] if config.simulator and recipe == config.recipes[0] else [])
            base, before = CONTINUES.get(recipe), {}
            data_dir = config.runs_root / name / "data"
            start = []
            if base is not None:  # continue the base recipe's model
                base_run = config.runs_root / f"peer-{env}-{base}"
                if not (base_run / "summary.json").is_file():
                    raise SystemExit(f"{recipe} continues {base}: run it first ({base_run}/summary.json is missing)")
                base_cpu = json.loads((base_run / "summary.json").read_text())["cpu_seconds"]
                before = {"base data": base_cpu["data"], "base train": base_cpu["train"]}
                data_dir = base_run / "data"
                start = ["--checkpoint", str(base_run / "checkpoints" / "world_model.pt"), "--dataset", str(data_dir)]
            validation = run_one(config, name, ["--env", env, *RECIPES[recipe], *protocol, *start])
            reuse = ["--checkpoint", str(config.runs_root / name / "checkpoints" / "world_model.pt"),
                     "--dataset", str(data_dir)]
            once = ("--practice.rounds", "0") if base is not None else ()  # the test evaluates the practised model
            cpu = {**before, **validation["cpu_seconds"]}
            if config.reevaluate:
                validation = run_one(config, f"{name}-validation", ["--env", env, *RECIPES[recipe], *protocol, *reuse])
                cpu = {**cpu, "plan": validation["cpu_seconds"]["plan"]}
            simulator = controller_result(validation, CONTROLLERS["simulator"]) or {}
            cpu_minutes = (sum(cpu.values()) - simulator.get("planning_seconds", 0.0)) / 60.0
            rows += rows_of(env, recipe, "validation", validation, cpu_minutes)
            test = run_one(config, f"{name}-test", ["--env", env, *RECIPES[recipe], *protocol, "--eval.split", "test", *reuse], once)
            rows += rows_of(env, recipe, "test", test, cpu_minutes)
    notes = ("Published (stable-worldmodel's table, CEM): PushT DINO-WM 74, PLDM 78, LeWM 96; Reacher DINO-WM 79, "
             "PLDM 78, LeWM 86. Ours: expert trajectories from our privileged controllers (the peers' datasets "
             "cannot be downloaded), 64x64 frames, trained on one CPU thread. The same planner on the true "
             "simulator (controller 'simulator'): CEM from the true state, cost the squared distance of the goal features "
             "(reacher: fingertip; PushT: agent and block pose), 300 x 30 on reacher (batched MuJoCo), 64 x 6 on PushT. "
             "Cube (OGBench cube-single, no published target): the expert picks the cube up and puts it down at "
             "random places (privileged); no simulator row (its inverse kinematics run in Python, ~1.5 ms per step).")
    kept, two_rooms_notes = kept_two_rooms(Path(config.out_dir) / "peer_protocol.json")
    command = command_line()
    for row in rows:
        row["command"] = command
    if config.keep_others:
        measured = {(row["env"], row["recipe"]) for row in rows}
        kept = [row for row in kept_rows(Path(config.out_dir) / "peer_protocol.json") if (row["env"], row["recipe"]) not in measured] + kept
    path = write_result(config.out_dir, "peer_protocol", "PushT and reacher, stable-worldmodel's protocol",
                        __doc__.split("\n\n")[0], config, COLUMNS + (["cpu_kind"] if kept else []), rows + kept,
                        f"{notes} {two_rooms_notes}".strip())
    return path


def kept_rows(path: Path) -> list[dict]:
    """The PushT and reacher rows of an existing result, each with the command that measured it (rows written
    before rows named their command get the file's)."""
    if not path.is_file():
        return []
    payload = json.loads(path.read_text())
    return [{"command": payload.get("command", ""), **row} for row in payload["rows"] if row.get("env") != "two-rooms"]


def kept_two_rooms(path: Path) -> tuple[list[dict], str]:
    """The Two Rooms rows of an existing result and their notes (peer_protocol_two_rooms.py writes them):
    kept when the PushT and reacher rows are measured again."""
    if not path.is_file():
        return [], ""
    payload = json.loads(path.read_text())
    notes = payload.get("notes", "")
    marker = notes.find(TWO_ROOMS_NOTES)
    return [row for row in payload["rows"] if row.get("env") == "two-rooms"], notes[marker:] if marker >= 0 else ""


if __name__ == "__main__":
    main(tyro.cli(Config))
