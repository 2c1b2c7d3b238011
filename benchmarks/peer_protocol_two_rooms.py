"""Two Rooms on stable-worldmodel's protocol: the demo's world model, rows added to peer_protocol.json.

Protocol (docs/environments.md, "Two Rooms on stable-worldmodel's protocol"): 50 tasks cut from
trajectories of a privileged expert (the true simulator + MPPI, random layouts), goal the
trajectory's state 25 environment steps later; 50 environment steps; CEM 300 samples x 30
iterations, top 30, horizon 5 planner steps of 4 environment steps, re-planned every planner step;
success within 4.5 px of the goal, the first time (``success_rate``) and at the last step
(``final_success_rate``). `hjepa evaluate --eval.protocol stable-wm` evaluates the stored checkpoint
of a model trained with the demo's recipe (1500 steps + 5 practice rounds; made by `hjepa two-rooms
--name base-s0 --runs-root runs/grid21 --seed 0 --eval.seed 20000 --eval.episodes 200 --eval.no-baselines`
as an AVX2-only CPU: the evaluation options do not change training) on the
validation tasks, then once on the test tasks, beside random actions and the same CEM on the true
simulator.

The PushT and reacher rows of ``peer_protocol.json`` (benchmarks/peer_protocol.py) are kept as they
are; the Two Rooms rows of the same protocol and recipe are replaced, and each carries the CPU it was measured on.

    python benchmarks/peer_protocol_two_rooms.py            # evaluate both splits (about 10 min each, 1 thread)
    python benchmarks/peer_protocol_two_rooms.py --reuse    # tabulate runs already made

``--protocol hjepa`` does the same on our own protocol (random layouts, start in one room, goal anywhere in the
other, 200 steps, stop at success; 400 tasks per split: validation seed 20000, test seed 60000) with the
planner options given in ``--plan-args``; its rows replace only the rows of the same protocol and recipe:

    python benchmarks/peer_protocol_two_rooms.py --protocol hjepa --demo-run runs/<pred64 run> --name pred64 \
        --recipe "predictor 64 wide (1500 steps + 5 practice rounds), MPPI 64 x 4, horizon 32" \
        --plan-args="--plan.iterations 4 --plan.horizon 32" --threads 2
"""

from __future__ import annotations

import datetime
import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import tyro

from common import RESULTS_DIR, command_line, cpu_model, machine_info, relative_paths
from hjepa.recipes.evaluate import EvaluateCommand
from hjepa.runs.machine import cpu_kind
from hjepa.runs.run_dir import atomic_write_text, to_jsonable
from peer_protocol import COLUMNS, TWO_ROOMS_NOTES, rows_of

RECIPE = "demo (1500 steps + 5 practice rounds)"
DATA = "exploration (4000 random walks) + practice"
CPU_NOTE = ("Two Rooms cpu_minutes: the demo run's train_seconds / 60 from runs/grid21/base-s0/summary.json, i.e. the "
            "wall-clock minutes of its 1500 training steps, 5 practice rounds and held-out diagnostics on torch's default "
            "2 threads (its report.md; that run did not record its CPU); an approximation, not process CPU time (which may "
            "be up to twice that); "
            "data collection and the evaluation's planning are not included.")

CPU_NOTE_RUN = ("Two Rooms cpu_minutes: the training run's train_seconds / 60 from its summary.json, the "
                "wall-clock minutes of training, practice and held-out diagnostics on its torch threads; data collection "
                "and the evaluation's planning are not included (planning_ms_per_step gives the planning).")


@dataclass(frozen=True)
class Config:
    """stable-worldmodel's protocol on Two Rooms with the demo's world model."""

    demo_run: Path = Path("runs/grid21/base-s0")
    """The demo's run directory: its checkpoints/world_model.pt is evaluated, its summary.json gives cpu_minutes."""
    protocol: Literal["stable-wm", "hjepa"] = "stable-wm"
    """stable-worldmodel's protocol, or our own cross-room tasks (module docstring)."""
    name: str = "demo"
    """Part of the evaluation runs' names: peer-two-rooms-<name>-<split> (stable-wm), peer-two-rooms-<name>-hjepa-<split>."""
    recipe: str = RECIPE
    """The rows' recipe label."""
    plan_args: str = ""
    """`hjepa evaluate` planner options for every split, one string written with '=' (its value starts with
    '--'): --plan-args="--plan.iterations 4 --plan.horizon 32"."""
    runs_root: Path = Path("runs/bench")
    threads: int = 1
    episodes: int | None = None
    """Tasks per split (default: 50 on stable-worldmodel's protocol, 400 on ours)."""
    reuse: bool = False
    """Read runs that already have a summary.json instead of running them again."""
    out_dir: Path = RESULTS_DIR


HJEPA_SEEDS = {"validation": 20_000, "test": 60_000}
"""Our protocol's task seeds per split (neither is used for data, practice or the demo's own evaluation)."""


def run_split(config: Config, split: str) -> dict:
    ours = config.protocol == "hjepa"
    name = f"peer-two-rooms-{config.name}-{'hjepa-' if ours else ''}{split}"
    summary_path = config.runs_root / name / "summary.json"
    if config.reuse and summary_path.is_file():
        return json.loads(summary_path.read_text())
    episodes = config.episodes or (400 if ours else 50)
    tasks = (["--eval.seed", str(HJEPA_SEEDS[split])] if ours else ["--eval.protocol", "stable-wm", "--eval.split", split])
    argv = ["--checkpoint", str(config.demo_run / "checkpoints" / "world_model.pt"), "--name", name,
            "--runs-root", str(config.runs_root), "--overwrite", "--threads", str(config.threads), "--no-progress",
            *tasks, "--eval.episodes", str(episodes), *shlex.split(config.plan_args)]
    return tyro.cli(EvaluateCommand, args=argv).run()


def merge(path: Path, rows: list[dict], config: Config) -> dict:
    """``path``'s result with the Two Rooms rows of ``config``'s protocol and recipe replaced by ``rows`` (every
    other row untouched); how they were made goes to ``two_rooms_runs["<protocol>: <recipe>"]``."""
    payload = json.loads(path.read_text())
    mine = ("two-rooms", config.protocol, config.recipe)
    payload["rows"] = [row for row in payload["rows"] if (row.get("env"), row.get("protocol"), row.get("recipe")) != mine] + rows
    payload["title"] = "PushT, reacher and Two Rooms, stable-worldmodel's protocol (Two Rooms also on ours)"
    payload["columns"] = list(dict.fromkeys([*payload["columns"], *COLUMNS, "cpu_kind"]))
    if TWO_ROOMS_NOTES not in payload.get("notes", ""):
        payload["notes"] = (f"{payload.get('notes', '')} {TWO_ROOMS_NOTES} peer_protocol_two_rooms.py (two_rooms_runs says how "
                            "each recipe's rows were made): published (stable-worldmodel's table, CEM) PLDM 97.").strip()
    payload.pop("two_rooms_hjepa", None)
    description = (next(p for p in __doc__.split("\n\n") if p.startswith("``--protocol hjepa``")) if config.protocol == "hjepa"
                   else __doc__.split("\n\n")[0])
    payload.setdefault("two_rooms_runs", {})[f"{config.protocol}: {config.recipe}"] = {
        "description": relative_paths(description), "command": command_line(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "config": relative_paths(to_jsonable(asdict(config))), "notes": CPU_NOTE_RUN,
    }
    return payload


def main(config: Config) -> Path:
    demo = json.loads((config.demo_run / "summary.json").read_text())
    cpu_minutes = demo["train_seconds"] / 60.0
    cpu, kind = cpu_model(), cpu_kind()
    rows = []
    note = CPU_NOTE if config.demo_run == Config.demo_run else CPU_NOTE_RUN
    for split in ("validation", "test"):
        rows += rows_of("two-rooms", config.recipe, split, run_split(config, split), cpu_minutes, data=DATA,
                        cpu=cpu, cpu_kind=kind, note=note, protocol=config.protocol)
    path = Path(config.out_dir) / "peer_protocol.json"
    atomic_write_text(path, json.dumps(merge(path, rows, config), indent=2, allow_nan=True) + "\n")
    for row in rows:
        print(f"{row['split']:10s} {row['controller']:9s} {row['success_rate']:.0%} +- {row['stderr']:.1%} / final "
              f"{row['final_success_rate']:.0%}, {row['planning_ms_per_step']:.0f} ms per step")
    print(f"written to {path}")
    return path


if __name__ == "__main__":
    main(tyro.cli(Config))
