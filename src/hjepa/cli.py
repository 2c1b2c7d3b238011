"""The ``hjepa`` command. Each subcommand is generated from a dataclass config by tyro, so every
option is documented by the field's docstring: ``hjepa <command> --help``."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal, Union

import tyro

from hjepa.envs.two_rooms import TwoRoomsConfig
from hjepa.pipelines.agent import AgentRunJob, AgentTrainJob
from hjepa.pipelines.gym_config import GymJob
from hjepa.pipelines.maze import MazeJob
from hjepa.pipelines.two_rooms import DataConfig, EvalConfig, PlanConfig, TwoRoomsJob
from hjepa.ssl.config import SSLTrainConfig


@dataclass(frozen=True)
class TwoRoomsCommand:
    """Collect reward-free data, train a JEPA world model, plan through the door, and report."""

    job: Annotated[TwoRoomsJob, tyro.conf.arg(name="")] = field(default_factory=TwoRoomsJob)
    dataset: Path | None = None
    """Use this stored dataset (from `hjepa collect`) instead of collecting new data."""
    checkpoint: Path | None = None
    """Use this world-model checkpoint instead of training (e.g. runs/<name>/checkpoints/world_model.pt)."""

    def run(self) -> dict:
        from hjepa.pipelines.two_rooms import run_two_rooms

        return run_two_rooms(self.job, dataset_path=self.dataset, checkpoint=self.checkpoint)


@dataclass(frozen=True)
class CollectCommand:
    """Collect reward-free random-walk episodes into the chunked trajectory format."""

    out: Path = Path("data/two-rooms")
    """Directory to write (must not exist or be empty, unless --overwrite)."""
    overwrite: bool = False
    """Replace an existing dataset (the old one is kept until the new one is complete)."""
    seed: int = 0
    """Seed of the layouts, starts and walks."""
    layout: Literal["random", "fixed"] = "random"
    """Random wall and door per episode, or one fixed layout."""
    chunk_episodes: int = 1000
    """Episodes per chunk file."""
    env: TwoRoomsConfig = field(default_factory=TwoRoomsConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def run(self) -> dict:
        import time

        from hjepa.data.trajectories import save_trajectories
        from hjepa.pipelines.two_rooms import collect, dataset_meta, fixed_layout_defaults, make_env

        job = fixed_layout_defaults(TwoRoomsJob(layout=self.layout, env=self.env, data=self.data, seed=self.seed))
        env = make_env(job)
        start = time.perf_counter()
        dataset = collect(job, env, self.seed, self.data.episodes)
        meta = dataset_meta(job, env, self.seed)
        path = save_trajectories(self.out, dataset.to_arrays(), meta, self.chunk_episodes, overwrite=self.overwrite)
        size = sum(f.stat().st_size for f in Path(path).iterdir())
        info = {"path": str(path), "episodes": len(dataset), "steps": dataset.steps,
                "bytes": size, "seconds": round(time.perf_counter() - start, 3)}
        print(json.dumps(info))
        return info


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
        from hjepa.pipelines.two_rooms import run_two_rooms

        job = TwoRoomsJob(
            name=self.name, runs_root=self.runs_root, overwrite=self.overwrite, layout=self.layout,
            progress=self.progress, threads=self.threads, precision=self.precision, plan=self.plan, eval=self.eval,
            data=DataConfig(episodes=1, heldout_episodes=300),
        )
        return run_two_rooms(job, dataset_path=None, checkpoint=self.checkpoint)


@dataclass(frozen=True)
class MazeCommand:
    """Multi-room maze: a two-level JEPA world model (latent macro-actions, optional latent z) from
    reward-free walks, hierarchical planning (--hierarchical, default) beside flat planning."""

    job: Annotated[MazeJob, tyro.conf.arg(name="")] = field(default_factory=MazeJob)
    checkpoint: Path | None = None
    """Use this two-level checkpoint (runs/<name>/checkpoints/hierarchy.pt) instead of training."""

    def run(self) -> dict:
        from hjepa.pipelines.maze import run_maze

        return run_maze(self.job, checkpoint=self.checkpoint)


@dataclass(frozen=True)
class GymCommand:
    """External environments from pixels (PushT, PointMaze, Pendulum, reacher; needs hjepa[envs]): collect
    reward-free data, train a JEPA world model, plan to held-out goals with DINO-WM's protocol."""

    job: Annotated[GymJob, tyro.conf.arg(name="")] = field(default_factory=GymJob)
    dataset: Path | None = None
    """Reuse the data directory of an earlier run (runs/<name>/data, holding train/ and heldout/)."""
    checkpoint: Path | None = None
    """Reuse a world model (runs/<name>/checkpoints/world_model.pt) instead of training."""

    def run(self) -> dict:
        from hjepa.pipelines.gym_planning import run_gym

        return run_gym(self.job, dataset_path=self.dataset, checkpoint=self.checkpoint)


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
        from hjepa.ssl.trainer import run_ssl_training

        return run_ssl_training(self.config, self.name, self.runs_root, self.overwrite, self.resume, self.stop_at)


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
        from hjepa.ssl.evaluation import evaluate_ssl

        return evaluate_ssl(self.checkpoint, self.name, self.runs_root, self.overwrite, self.device, self.threads)


@dataclass(frozen=True)
class SSLCommand:
    """Image self-supervised learning: `hjepa ssl train` and `hjepa ssl eval`."""

    command: Annotated[
        Union[
            Annotated[SSLTrainCommand, tyro.conf.subcommand("train", prefix_name=False)],
            Annotated[SSLEvalCommand, tyro.conf.subcommand("eval", prefix_name=False)],
        ],
        tyro.conf.arg(name=""),
    ]

    def run(self) -> dict:
        return self.command.run()


@dataclass(frozen=True)
class AgentTrainCommand:
    """Train the agent's learned parts for one task on a world model: collect Mode-2 experience into
    short-term memory, fit the critic, distill Mode-2 into the Mode-1 policy (DAgger)."""

    job: Annotated[AgentTrainJob, tyro.conf.arg(name="")]

    def run(self) -> dict:
        from hjepa.pipelines.agent import run_agent_train

        return run_agent_train(self.job)


@dataclass(frozen=True)
class AgentRunCommand:
    """Run one task (reach, avoid, other-room) in one mode (mode1, mode2, mode2-warm) and report."""

    job: Annotated[AgentRunJob, tyro.conf.arg(name="")]

    def run(self) -> dict:
        from hjepa.pipelines.agent import run_agent

        return run_agent(self.job)


@dataclass(frozen=True)
class AgentCommand:
    """The whole agent on a Two Rooms world model: `hjepa agent train` and `hjepa agent run`."""

    command: Annotated[
        Union[
            Annotated[AgentRunCommand, tyro.conf.subcommand("run", prefix_name=False)],
            Annotated[AgentTrainCommand, tyro.conf.subcommand("train", prefix_name=False)],
        ],
        tyro.conf.arg(name=""),
    ]

    def run(self) -> dict:
        return self.command.run()


def _print_agent_summary(summary: dict) -> None:
    """One line about an agent run or training."""
    result = summary.get("mode1", summary)
    label = summary.get("mode", "mode1 (distilled)")
    print(f"{summary['task']} {label}: success {result['success_rate']:.1%} over {result['episodes']:.0f} episodes, "
          f"{result['violations_per_episode']:.2f} zone violations per episode, "
          f"{result['decide_ms_per_action']:.2f} ms per action (decision, per episode); "
          f"total {summary.get('total_seconds', float('nan')):.0f} s")


Command = Union[
    Annotated[TwoRoomsCommand, tyro.conf.subcommand("two-rooms")],
    Annotated[CollectCommand, tyro.conf.subcommand("collect")],
    Annotated[EvaluateCommand, tyro.conf.subcommand("evaluate")],
    Annotated[SSLCommand, tyro.conf.subcommand("ssl")],
    Annotated[AgentCommand, tyro.conf.subcommand("agent")],
    Annotated[GymCommand, tyro.conf.subcommand("gym")],
    Annotated[MazeCommand, tyro.conf.subcommand("maze")],
]


def _print_ssl_summary(summary: dict) -> None:
    """One line about an SSL run (nothing on ranks other than 0 of a distributed run)."""
    if "stopped_at" in summary:
        print(f"stopped at step {summary['stopped_at']} of {summary['steps']}; continue with --resume")
    elif "linear_acc" in summary:
        speed = f"; {summary['images_per_second']:.0f} images/s" if "images_per_second" in summary else ""
        print(f"linear probe {summary['linear_acc']:.1%}, k-NN {summary['knn_acc']:.1%}, "
              f"1% labels {summary['semi_1pct_acc']:.1%}, effective rank {summary['effective_rank']:.1f}"
              f"{' (collapsed)' if summary['collapsed'] else ''}{speed}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hjepa`` console script."""
    try:
        command = tyro.cli(
            Command, args=argv,
            description="hjepa: JEPA world models and planning agents (LeCun's H-JEPA architecture).",
        )
    except ValueError as error:  # a config's own check, for nested subcommands that tyro does not catch
        print(f"hjepa: error: {error}", file=sys.stderr)
        return 2
    errors: tuple[type[BaseException], ...] = (
        ValueError, FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError
    )
    if isinstance(command, SSLCommand):
        errors += (FloatingPointError,)  # a diverging SSL loss: lower --lr
    if isinstance(command, GymCommand):
        from hjepa.envs.adapters.extras import MissingExtraError

        errors += (MissingExtraError,)  # names the extra to install
    try:
        summary = command.run()
    except errors as error:
        print(f"hjepa: error: {error}", file=sys.stderr)
        return 2
    if isinstance(command, SSLCommand):
        _print_ssl_summary(summary)
    if isinstance(command, AgentCommand):
        _print_agent_summary(summary)
    if isinstance(command, GymCommand):
        print(f"{summary['env_id']}: success {summary['success_rate']:.1%} over {summary['episodes']} goals "
              f"(already solved at the start: {summary['start_success_rate']:.1%}); CPU seconds: data "
              f"{summary['cpu_seconds']['data']:.0f}, training {summary['cpu_seconds']['train']:.0f}, "
              f"planning {summary['cpu_seconds']['plan']:.0f}")
    if isinstance(command, MazeCommand):
        for label, row in summary["controllers"].items():
            by = ", ".join(f"{k} rooms {v:.0%}" for k, v in row["by_rooms_apart"].items())
            print(f"{label}: success {row['success_rate']:.1%} ({by}); planning {row['planning_seconds']:.1f} s")
    if isinstance(command, TwoRoomsCommand | EvaluateCommand):
        rate = summary["success_rate"]
        print(f"success rate {rate:.1%} over {summary['episodes']} episodes; "
              f"planning {summary['planning_ms_per_step']:.1f} ms per environment step (batched); "
              f"total {summary['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
