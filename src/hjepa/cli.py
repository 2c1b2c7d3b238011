"""The ``hjepa`` command. Each subcommand is a recipe's command dataclass, turned into a CLI by tyro,
so every option is documented by the field's docstring: ``hjepa <command> --help``."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from dataclasses import dataclass
from typing import Annotated, Union

import tyro

from hjepa import __version__
from hjepa.config_args import expand_config
from hjepa.envs.adapters.extras import MissingExtraError
from hjepa.errors import InputError, NonFiniteLoss
from hjepa.recipes.agent_run import AgentRunCommand
from hjepa.recipes.agent_train import AgentTrainCommand
from hjepa.recipes.collect import CollectCommand
from hjepa.recipes.evaluate import EvaluateCommand
from hjepa.recipes.gym import GymCommand
from hjepa.recipes.maze import MazeCommand
from hjepa.recipes.ssl_eval import SSLEvalCommand
from hjepa.recipes.ssl_train import SSLTrainCommand, ssl_summary_line
from hjepa.recipes.two_rooms import TwoRoomsCommand
from hjepa.runs.allocator import keep_freed_memory


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


USER_ERRORS: tuple[type[BaseException], ...] = (InputError, NonFiniteLoss, OSError, MissingExtraError)
"""What the user can fix: one line and exit code 2 — bad values and files (InputError), a diverged
training (NonFiniteLoss), the file system (OSError: a missing file, an existing run, no permission, a
name too long, a full disk) and a missing optional package. Anything else is a bug and keeps its
traceback."""

Command = Union[
    Annotated[TwoRoomsCommand, tyro.conf.subcommand("two-rooms")],
    Annotated[CollectCommand, tyro.conf.subcommand("collect")],
    Annotated[EvaluateCommand, tyro.conf.subcommand("evaluate")],
    Annotated[SSLCommand, tyro.conf.subcommand("ssl")],
    Annotated[AgentCommand, tyro.conf.subcommand("agent")],
    Annotated[GymCommand, tyro.conf.subcommand("gym")],
    Annotated[MazeCommand, tyro.conf.subcommand("maze")],
]


def summary_line(command, summary: dict) -> str | None:
    """One line about what a command measured (None: the command prints its own, or nothing)."""
    if isinstance(command, SSLCommand):
        return ssl_summary_line(summary)
    if isinstance(command, AgentCommand):
        result = summary.get("mode1", summary)
        label = summary.get("mode", "mode1 (distilled)")
        return (f"{summary['task']} {label}: success {result['success_rate']:.1%} over {result['episodes']:.0f} episodes, "
                f"{result['violations_per_episode']:.2f} zone violations per episode, "
                f"{result['decide_ms_per_action']:.2f} ms per action (decision, per episode); "
                f"total {summary.get('total_seconds', float('nan')):.0f} s")
    if isinstance(command, GymCommand):
        if "env_id" not in summary:  # a rank other than 0 of torchrun: rank 0 reports
            return None
        return (f"{summary['env_id']}: success {summary['success_rate']:.1%} over {summary['episodes']} goals "
                f"(already solved at the start: {summary['start_success_rate']:.1%}); CPU seconds: data "
                f"{summary['cpu_seconds']['data']:.0f}, training {summary['cpu_seconds']['train']:.0f}, "
                f"planning {summary['cpu_seconds']['plan']:.0f}")
    if isinstance(command, MazeCommand):
        return "\n".join(
            f"{label}: success {row['success_rate']:.1%} ("
            + ", ".join(f"{k} rooms {v:.0%}" for k, v in row["by_rooms_apart"].items())
            + f"); planning {row['planning_seconds']:.1f} s"
            for label, row in summary["controllers"].items())
    if isinstance(command, TwoRoomsCommand | EvaluateCommand):
        return (f"success rate {summary['success_rate']:.1%} over {summary['episodes']} episodes; "
                f"planning {summary['planning_ms_per_step']:.1f} ms per environment step (batched); "
                f"total {summary['total_seconds']:.0f} s")
    return None


BOX = re.compile(r"[│╭╮╰╯─┃━]+")


def paragraphs(box: str) -> list[str]:
    """The text of tyro's error box (unicode, or plain when not a terminal), one string per paragraph."""
    out, current = [], []
    for raw in box.splitlines():
        text = BOX.sub(" ", raw).strip()
        title = raw.lstrip().startswith("╭")
        if not text or re.fullmatch(r"-+", text) or title:
            out += [" ".join(current), text if title else ""]
            current = []
            continue
        current.append(text)
    out.append(" ".join(current))
    return [p for p in out if p]


def one_line(box: str) -> str:
    """tyro's boxed parse error -> its message on one line: the box's title dropped, ``Error parsing
    X:`` shortened to the option's name, and tyro's suggestion kept."""
    texts = paragraphs(box)
    body = [t for t in texts if ":" in t or len(t.split()) > 4] or texts or ["invalid arguments"]
    message = re.sub(r"\s*\(applied to [^)]*\)", "", body[0])
    message = re.sub(r"^Error parsing (--\S+):\s*", r"\1: ", message)
    message = re.sub(r"^Error parsing [^:]*:\s*", "", message)
    lines = [BOX.sub(" ", raw).strip() for raw in box.splitlines()]
    if "Perhaps you meant:" in lines:
        hint = next((t for t in lines[lines.index("Perhaps you meant:") + 1:] if t), "")
        message += f"; perhaps you meant {hint}"
    return message


RERUNNABLE: dict[tuple[str, ...], type] = {
    ("two-rooms",): TwoRoomsCommand, ("maze",): MazeCommand, ("gym",): GymCommand,
    ("agent", "train"): AgentTrainCommand, ("agent", "run"): AgentRunCommand, ("ssl", "train"): SSLTrainCommand,
}
"""Commands whose run's config.json ``--config`` reads back (``hjepa evaluate`` writes a two-rooms config)."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hjepa`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        print(f"hjepa {__version__}")
        return 0
    keep_freed_memory()
    captured = io.StringIO()
    try:
        argv = expand_config(argv, RERUNNABLE)
        with contextlib.redirect_stderr(captured):
            command = tyro.cli(
                Command, args=argv,
                description="hjepa: JEPA world models and planning agents (LeCun's H-JEPA architecture).",
            )
    except USER_ERRORS as error:  # --config's, and a config's own check, which tyro does not catch
        print(f"hjepa: error: {error}", file=sys.stderr)
        return 2
    except SystemExit as done:  # --help (0), or tyro's error box for a bad option: made one line
        if done.code in (0, None):
            sys.stderr.write(captured.getvalue())
            raise
        print(f"hjepa: error: {one_line(captured.getvalue())} (see --help)", file=sys.stderr)
        return 2
    sys.stderr.write(captured.getvalue())
    try:
        summary = command.run()
    except USER_ERRORS as error:
        print(f"hjepa: error: {error}", file=sys.stderr)
        return 2
    line = summary_line(command, summary)
    if line:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
