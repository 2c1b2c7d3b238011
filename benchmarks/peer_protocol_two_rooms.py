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
are; the Two Rooms rows are replaced, and each carries the CPU it was measured on.

    python benchmarks/peer_protocol_two_rooms.py            # evaluate both splits (about 10 min each, 1 thread)
    python benchmarks/peer_protocol_two_rooms.py --reuse    # tabulate runs already made
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Config:
    """stable-worldmodel's protocol on Two Rooms with the demo's world model."""

    demo_run: Path = Path("runs/grid21/base-s0")
    """The demo's run directory: its checkpoints/world_model.pt is evaluated, its summary.json gives cpu_minutes."""
    runs_root: Path = Path("runs/bench")
    threads: int = 1
    episodes: int = 50
    reuse: bool = False
    """Read runs that already have a summary.json instead of running them again."""
    out_dir: Path = RESULTS_DIR


def run_split(config: Config, split: str) -> dict:
    name = f"peer-two-rooms-demo-{split}"
    summary_path = config.runs_root / name / "summary.json"
    if config.reuse and summary_path.is_file():
        return json.loads(summary_path.read_text())
    argv = ["--checkpoint", str(config.demo_run / "checkpoints" / "world_model.pt"), "--name", name,
            "--runs-root", str(config.runs_root), "--overwrite", "--threads", str(config.threads), "--no-progress",
            "--eval.protocol", "stable-wm", "--eval.split", split, "--eval.episodes", str(config.episodes)]
    return tyro.cli(EvaluateCommand, args=argv).run()


def merge(path: Path, rows: list[dict], config: Config) -> dict:
    """``path``'s result with its Two Rooms rows replaced by ``rows`` (the other rows untouched)."""
    payload = json.loads(path.read_text())
    payload["rows"] = [row for row in payload["rows"] if row.get("env") != "two-rooms"] + rows
    payload["title"] = "PushT, reacher and Two Rooms, stable-worldmodel's protocol"
    payload["columns"] = list(dict.fromkeys([*payload["columns"], *COLUMNS, "cpu_kind"]))
    notes = payload.get("notes", "").split(TWO_ROOMS_NOTES)[0].rstrip()
    payload["notes"] = f"{notes} {TWO_ROOMS_NOTES} {command_line()}: published (stable-worldmodel's table, CEM) PLDM 97. {CPU_NOTE}"
    payload["two_rooms"] = {
        "description": relative_paths(__doc__.split("\n\n")[0]), "command": command_line(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "config": relative_paths(to_jsonable(asdict(config))),
        "notes": "Published (stable-worldmodel's table, CEM): Two Rooms PLDM 97. " + CPU_NOTE,
    }
    return payload


def main(config: Config) -> Path:
    demo = json.loads((config.demo_run / "summary.json").read_text())
    cpu_minutes = demo["train_seconds"] / 60.0
    cpu, kind = cpu_model(), cpu_kind()
    rows = []
    for split in ("validation", "test"):
        rows += rows_of("two-rooms", RECIPE, split, run_split(config, split), cpu_minutes, data=DATA,
                        cpu=cpu, cpu_kind=kind, note=CPU_NOTE)
    path = Path(config.out_dir) / "peer_protocol.json"
    atomic_write_text(path, json.dumps(merge(path, rows, config), indent=2, allow_nan=True) + "\n")
    for row in rows:
        print(f"{row['split']:10s} {row['controller']:9s} {row['success_rate']:.0%} +- {row['stderr']:.1%} / final "
              f"{row['final_success_rate']:.0%}, {row['planning_ms_per_step']:.0f} ms per step")
    print(f"written to {path}")
    return path


if __name__ == "__main__":
    main(tyro.cli(Config))
