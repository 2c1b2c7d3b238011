"""Fuzz test of the ``hjepa`` command: random argument vectors over every subcommand.

Each example starts from a tiny argument vector of one command (it finishes in about a second)
and appends 1-4 options drawn from the command's real option list (read from its dataclasses,
the way tyro builds the CLI), with adversarial values: zero, negative, huge numbers, NaN and
infinities, wrong types, empty strings, missing and corrupt files, an existing directory, names
with '/' or '..', unknown choices; sometimes an unknown option, a missing value or a ``--config``
file. ``hjepa.cli.main`` runs in-process and must exit 0 or 2 (a user's error: one line, no
traceback) within ``CAP_SECONDS``; any other exception or exit code fails with the argv, which
hypothesis shrinks.

Runs go to a fresh runs root per example, run from a fresh working directory. A run directory
that exists before fuzzing (with a sentinel file) must never be modified: examples aimed at it
without ``--overwrite`` must exit 2 and leave it byte for byte; with ``--overwrite`` (or
``--resume``) the sentinel must survive under its root (moved aside, never deleted).

Default: ``DEFAULT_EXAMPLES`` per command (174 in all, under a minute on 2 CPU cores). More:
``HJEPA_FUZZ_EXAMPLES=300 pytest tests/test_cli_fuzz.py`` (that many in all, split over the
commands) or ``pytest -m slow tests/test_cli_fuzz.py`` (``SLOW_TOTAL`` in all, a few minutes).
Examples are derandomized (a fixed seed per command): CI sees the same ones every time.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import signal
import types
import typing
import zlib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pytest
import torch
import tyro
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from hjepa.cli import main
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.nn.linear_probe import fit_linear_probe
from hjepa.recipes.agent_run import AgentRunCommand
from hjepa.recipes.agent_train import AgentTrainCommand
from hjepa.recipes.collect import CollectCommand
from hjepa.recipes.evaluate import EvaluateCommand
from hjepa.recipes.gym import GymCommand
from hjepa.recipes.maze import MazeCommand
from hjepa.recipes.ssl_eval import SSLEvalCommand
from hjepa.recipes.ssl_train import SSLTrainCommand
from hjepa.recipes.two_rooms import TwoRoomsCommand
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.checkpoint import checkpoint_state

CAP_SECONDS = 20
"""Wall-clock limit of one example (enforced with SIGALRM): a run over it fails the test."""
DEFAULT_EXAMPLES = {"two-rooms": 16, "collect": 25, "evaluate": 16, "maze": 20, "gym": 16, "agent-train": 20,
                    "agent-run": 25, "ssl-train": 16, "ssl-eval": 20}
"""Examples per command in the default suite, 174 in all: under a minute on 2 CPU cores (most examples
stop at a check within a second; a run that goes through takes 1-3 s)."""
SLOW_TOTAL = 900
"""Examples in all of the large profile (``-m slow``), split over the commands."""
SENTINEL = "written before fuzzing; must survive every example\n"

# --------------------------------------------------------------------------- base argument vectors
# Placeholders (<runs>, <world>, ...) are replaced per example by real paths (see Example.resolve).
RUN = ["--runs-root", "<runs>", "--name", "run"]
QUIET = ["--no-progress", "--threads", "1", "--log", "none"]
TWO_ROOMS_PLAN = ["--plan.samples", "8", "--plan.elites", "2", "--plan.horizon", "4", "--plan.iterations", "1",
                  "--eval.episodes", "2", "--eval.record", "1", "--eval.no-baselines", "--precision", "fp32"]
# Every knob that scales the work is set small here, also the ones the base leaves switched off
# (practice.*, plan.landmarks): an example that switches them on stays within the cap.
BASES: dict[str, list[str]] = {
    "two-rooms": [
        "two-rooms", *RUN, *QUIET, *TWO_ROOMS_PLAN, "--env.max-episode-steps", "12",
        "--data.episodes", "8", "--data.steps", "24", "--data.heldout-episodes", "4",
        "--model.channels", "4", "--model.spatial-channels", "2", "--model.state-dim", "8", "--model.predictor-hidden", "8",
        "--model.predictor-layers", "2", "--model.idm-hidden", "8", "--train.steps", "2", "--train.batch-size", "4",
        "--train.window", "2", "--train.log-every", "1", "--train.eval-every", "2", "--train.eval-windows", "8",
        "--train.warmup-steps", "1", "--practice.rounds", "0", "--practice.tasks", "2", "--practice.steps", "1",
    ],
    "collect": ["collect", "--out", "<runs>/data", "--data.episodes", "8", "--data.steps", "20",
                "--data.heldout-episodes", "1", "--chunk-episodes", "4"],
    "evaluate": ["evaluate", "--checkpoint", "<world>", *RUN, "--no-progress", "--threads", "1", *TWO_ROOMS_PLAN],
    "maze": [
        "maze", *RUN, *QUIET, "--data.episodes", "16", "--data.steps", "80", "--data.heldout-episodes", "8",
        "--model.channels", "8", "--model.state-dim", "16", "--model.predictor-hidden", "32", "--model.idm-hidden", "32",
        "--train.steps", "4", "--train.batch-size", "8", "--train.eval-every", "4", "--train.eval-windows", "16",
        "--train.warmup-steps", "1", "--train.log-every", "2", "--level2.state-dim", "8", "--level2.hidden", "16",
        "--level2.layers", "2", "--level2-train.steps", "4", "--level2-train.batch-size", "8", "--level2-train.window", "2",
        "--plan.samples", "8", "--plan.low-horizon", "4", "--plan.flat-horizon", "6", "--plan.high-horizon", "3",
        "--plan.beam", "4", "--plan.keep-best", "2", "--plan.iterations", "1", "--plan.z-draws", "2",
        "--plan.landmarks", "12", "--plan.landmark-min-count", "1", "--plan.landmark-horizon", "6",
        "--eval.episodes", "2", "--eval.record", "1", "--eval.min-rooms", "2", "--eval.max-rooms", "3",
        "--env.max-episode-steps", "16", "--distance.train.steps", "20", "--distance.train.batch", "16",
        "--distance.hidden", "16",
    ],
    "gym": [
        "gym", "--env", "pendulum", *RUN, *QUIET, "--data.episodes", "4", "--data.steps", "30",
        "--data.heldout-episodes", "3", "--data.copies", "2", "--model.channels", "8", "16", "--model.state-dim", "16",
        "--model.predictor-hidden", "32", "--model.idm-hidden", "32", "--train.steps", "4", "--train.batch-size", "8",
        "--train.window", "2", "--train.log-every", "2", "--train.eval-every", "4", "--train.eval-windows", "16",
        "--train.warmup-steps", "1", "--plan.samples", "8", "--plan.elites", "2", "--plan.iterations", "1",
        "--plan.horizon", "2", "--eval.episodes", "3", "--eval.budget-steps", "10", "--eval.goal-steps", "10",
        "--eval.record", "2", "--eval.no-baselines",
    ],
    "agent-train": [
        "agent", "train", "--checkpoint", "<world>", *RUN, *QUIET, "--collect-episodes", "4", "--memory-capacity", "64",
        "--critic.steps", "5", "--critic.rounds", "1", "--critic.round-episodes", "2", "--critic.batch-size", "16",
        "--critic.hidden", "16", "--policy.rounds", "1", "--policy.round-episodes", "2", "--policy.fit-steps", "5",
        "--policy.batch-size", "16", "--policy.hidden", "16", "--episodes", "3", "--record", "2", "--samples", "8",
        "--horizon", "3", "--iterations", "1",
    ],
    "agent-run": ["agent", "run", "--checkpoint", "<world>", *RUN, *QUIET, "--episodes", "3", "--record", "2",
                  "--samples", "8", "--horizon", "3", "--iterations", "1"],
    "ssl-train": [
        "ssl", "train", *RUN, *QUIET, "--dataset", "digits", "--width", "4",
        "--projector-dim", "16", "--steps", "4", "--batch-size", "16", "--warmup-steps", "2", "--log-every", "2",
        "--rank-images", "64", "--eval-images", "64", "--precision", "fp32", "--checkpoint-every", "0",
    ],
    "ssl-eval": ["ssl", "eval", "--checkpoint", "<ssl>", *RUN, "--threads", "1"],
}
COMMAND_CLASSES: dict[str, type] = {
    "two-rooms": TwoRoomsCommand, "collect": CollectCommand, "evaluate": EvaluateCommand, "maze": MazeCommand,
    "gym": GymCommand, "agent-train": AgentTrainCommand, "agent-run": AgentRunCommand,
    "ssl-train": SSLTrainCommand, "ssl-eval": SSLEvalCommand,
}
COMMANDS = list(BASES)


# --------------------------------------------------------------------------- the option list
@dataclasses.dataclass(frozen=True)
class Option:
    """One command-line option: its flag and the field's type (``None`` removed into ``optional``)."""

    flag: str
    name: str
    hint: Any
    optional: bool


def _unwrap(hint: Any) -> tuple[Any, tuple]:
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        inner, more = _unwrap(base)
        return inner, (*extras, *more)
    return hint, ()


def _without_none(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) < len(typing.get_args(hint)):
            return (args[0] if len(args) == 1 else Union[tuple(args)]), True
    return hint, False


def options_of(cls: type, prefix: str = "") -> list[Option]:
    """The options tyro makes of a command dataclass: nested dataclasses become ``--prefix.name``,
    fields marked ``tyro.conf.arg(name="")`` are flattened, ``tyro.conf.Suppress`` ones skipped."""
    hints = typing.get_type_hints(cls, include_extras=True)
    options: list[Option] = []
    for f in dataclasses.fields(cls):
        hint, extras = _unwrap(hints[f.name])
        if any(extra is tyro.conf.Suppress for extra in extras):
            continue
        flattened = any(getattr(extra, "name", None) == "" for extra in extras)
        hint, optional = _without_none(hint)
        if dataclasses.is_dataclass(hint):
            options += options_of(hint, prefix if flattened else f"{prefix}{f.name}.")
        else:
            options.append(Option("--" + f"{prefix}{f.name}".replace("_", "-"), f.name, hint, optional))
    return options


OPTIONS = {command: options_of(cls) for command, cls in COMMAND_CLASSES.items()}


# --------------------------------------------------------------------------- adversarial values
# Integers that size the work (steps, episodes, samples, widths, batch sizes...) are drawn small:
# a huge value there is a legitimately long run, not a bug. Only these integers, which do not
# scale the work (or are checked against one that does), also get huge values.
CHEAP_INTS = {"seed", "eval_seed", "log_every", "eval_every", "checkpoint_every", "record", "warmup_steps",
              "chunk_episodes", "replan_every", "elites", "keep_best", "min_rooms", "max_rooms", "landmark_min_count",
              "landmark_walks", "extra_doors", "stop_at", "wall_x_range", "wall_band", "unreliable"}
NO_NONE = {"steps", "episodes"}
"""Optional sizes whose None means a long default (gym: 3000 training steps, 300 episodes): never None."""
SMALL_FLOATS = {"epochs"}
"""Floats that size the work (epochs of training): drawn small, never huge."""
GARBAGE = ["abc", "", "1.5", "nan", "1e3", "0x10", " 1", "--"]
SMALL_INTS = ["0", "-1", "1", "2", "3", "-9223372036854775809"]
HUGE_INTS = ["1000000", "2147483648", "9223372036854775808", "1" + "0" * 30, "-" + "1" + "0" * 30]
FLOATS = ["0", "-0.0", "-1", "1", "0.5", "1e-30", "1e30", "-1e30", "1e308", "1e400", "nan", "inf", "-inf", "-nan"]
NAMES = ["x", "", ".", "..", "a/b", "../up", "existing", "-dash", " ", "name with spaces", "ünï", "a" * 300,
         "run.old-1", "~"]
DEVICES = ["auto", "cpu", "cuda", "cuda:7", "gpu", "abc", "", "mps", "meta", "cpu:0", "cpu:-1", "None"]
PATHS_IN = ["<play>/missing", "<play>/dir", "<play>/corrupt.pt", "<play>/half.pt", "<play>/garbage.json",
            "<play>/text.txt", "<play>/text.txt/below", "", ".", "..", "<exist>/existing", "<play>/" + "p" * 300,
            "<world>", "<ssl>", "<learned>", "<data>", "<play>/dir/../missing"]
"""Input files and directories; the fixtures (<world>, <ssl>, ...) are offered only as inputs."""
PATHS_OUT = ["<play>/missing", "<play>/dir", "<play>/text.txt", "<play>/text.txt/below", "<exist>", "", ".", "..",
             "<play>/" + "q" * 300, "<play>/deep/er/still"]
"""Output roots (--runs-root): never a fixture, never outside the example's own directory tree. Not the existing
run itself: a runs root inside a run directory holds new runs beside its files, which is no harm."""
OUTPUTS = {"runs_root": PATHS_OUT, "out": [*PATHS_OUT, "<exist>/existing"]}
"""Options that name where to write, and their values (collect's --out is the dataset directory itself)."""
CONFIGS = {  # file name in <play> -> content of a --config file
    "config_empty.json": "{}",
    "config_list.json": "[1, 2]",
    "config_bad.json": '{"seed": ',
    "config_unknown.json": '{"no_such_option": 1}',
    "config_other.json": '{"run": {"subcommand": "maze"}}',
    "config_types.json": '{"seed": "abc", "plan": 5}',
    "config_null.json": '{"seed": null, "name": "../x"}',
    "config_nested.json": '{"plan": {"samples": -1}, "train": {"steps": null}}',
    "config_nan.json": '{"seed": NaN}',
}
UNKNOWN = [["--no-such-option"], ["--no-such-option", "1"], ["--plan.nope", "2"], ["-x"], ["stray"], ["--"],
           ["--help-me"], ["--config"], ["--config", "<play>/missing.json"]]


def _mix(valid: st.SearchStrategy[str], odd: st.SearchStrategy[str], wrong: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Half valid values (so that runs get past the checks and into the work), a quarter edge cases,
    a quarter the wrong kind (``one_of`` picks its branches evenly; valid first, the simplest)."""
    return st.one_of(valid, valid, odd, wrong)


def _element_values(hint: Any, name: str) -> st.SearchStrategy[str]:
    """Strings for one value of type ``hint`` (the field ``name``)."""
    garbage = st.sampled_from(GARBAGE)
    if typing.get_origin(hint) is Literal:
        choices = [str(c) for c in typing.get_args(hint)]
        return _mix(st.sampled_from(choices), st.sampled_from(["bogus", "", choices[0].upper()]), st.just(choices[0] + " "))
    if hint is bool:
        return _mix(st.sampled_from(["True", "False"]), st.sampled_from(["true", "0", "1"]), st.sampled_from(["maybe", ""]))
    if hint is int:
        if name in CHEAP_INTS:
            return _mix(st.integers(0, 50).map(str), st.one_of(st.sampled_from(SMALL_INTS + HUGE_INTS),
                                                               st.integers(-2**70, 2**70).map(str)), garbage)
        return _mix(st.integers(1, 3).map(str), st.sampled_from(SMALL_INTS), garbage)
    if hint is float:
        if name in SMALL_FLOATS:
            return _mix(st.floats(0.001, 0.05).map(repr), st.sampled_from(["0", "-1", "nan", "inf", "1e-30"]), garbage)
        odd = st.one_of(st.sampled_from(FLOATS), st.floats(-1e6, 1e6, allow_nan=False).map(repr))
        return _mix(st.floats(0.0, 2.0).map(repr), odd, garbage)
    if hint is Path or isinstance(hint, type) and issubclass(hint, os.PathLike):
        return st.sampled_from(OUTPUTS.get(name, PATHS_IN))
    if hint is str:
        if name == "name":
            return st.sampled_from(NAMES)
        if name == "device":
            return _mix(st.sampled_from(["auto", "cpu"]), st.sampled_from(DEVICES), st.just(""))
        return _mix(st.sampled_from(["fixed", "random"]), st.sampled_from(["", "abc", "None", "FIXED"]), st.just("a/b"))
    return st.one_of(garbage, st.sampled_from(["0", "1"]))


def _value_tokens(option: Option) -> st.SearchStrategy[list[str]]:
    """The tokens after the flag (bools are flags of their own and handled by the caller)."""
    hint = option.hint
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        variadic = len(args) == 2 and args[1] is Ellipsis
        element = _element_values(args[0], option.name)  # a tuple's elements share one type here
        counts = st.sampled_from([1, 2, 3, 0]) if variadic else st.sampled_from([len(args)] * 4 + [0, len(args) - 1, len(args) + 1])
        values = counts.flatmap(lambda n: st.lists(element, min_size=n, max_size=n))
    else:
        values = _element_values(hint, option.name).map(lambda v: [v])
    return st.one_of(values, st.just(["None"])) if option.optional and option.name not in NO_NONE else values


@st.composite
def option_tokens(draw, option: Option) -> list[str]:
    """One option with a drawn value; sometimes with its value missing."""
    if option.hint is bool and not option.optional:  # --x / --prefix.no-x
        head, _, leaf = option.flag[2:].rpartition(".")
        negated = f"--{head}.no-{leaf}" if head else f"--no-{leaf}"
        return [draw(st.sampled_from([option.flag, negated]))] + draw(st.sampled_from([[]] * 5 + [["True"]]))
    if draw(st.integers(0, 11)) == 0:
        return [option.flag]  # missing value (at the end, or followed by the next option)
    return [option.flag, *draw(_value_tokens(option))]


@st.composite
def fuzz_case(draw, command: str) -> dict:
    """Extra tokens after the command's base argv, and where (if anywhere) to aim at an existing run."""
    tokens: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 19))
        if kind == 0:
            tokens += draw(st.sampled_from(UNKNOWN))
        elif kind == 1:
            tokens += ["--config", "<play>/" + draw(st.sampled_from(sorted(CONFIGS)))]
        else:
            tokens += draw(option_tokens(draw(st.sampled_from(OPTIONS[command]))))
    target = draw(st.sampled_from([None] * 6 + ["existing", "existing --overwrite"]))
    return {"tokens": tokens, "target": target}


# --------------------------------------------------------------------------- fixtures and checks
def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative path -> bytes), and every directory (-> None)."""
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None) for p in sorted(directory.rglob("*"))}


def make_existing_run(root: Path) -> Path:
    """``root/existing/``: a run directory with a sentinel file, a config and a checkpoint."""
    run = root / "existing"
    (run / "checkpoints").mkdir(parents=True)
    (run / "sentinel.txt").write_text(SENTINEL)
    (run / "config.json").write_text('{"layout": "fixed"}\n')
    (run / "checkpoints" / "world_model.pt").write_bytes(b"not really a checkpoint")
    return run


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One torch thread for the module (its fixtures run before conftest's per-test setting), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, Path]:
    """What the examples read (never write): a tiny untrained Two Rooms world model (as `hjepa
    two-rooms` saves it, fixed layout, 12-step episodes), an `hjepa agent train` run on it, an SSL
    checkpoint, a collected dataset; and the run directory that exists before fuzzing."""
    cwd = Path.cwd()
    root = tmp_path_factory.mktemp("fuzz-fixtures")
    os.chdir(root)
    try:
        torch.manual_seed(0)
        # obs_pool 4 as the default WorldModelConfig: `hjepa evaluate` renders its windows with it.
        config = WorldModelConfig(architecture="vector", obs_pool=4, channels=(4, 8), state_dim=8,
                                  predictor_hidden=16, predictor_layers=2, idm_hidden=16)
        model, idm = build_world_model(config)
        env = TwoRooms(TwoRoomsConfig(fixed_layout=True))
        pos = torch.rand(64, 2, generator=torch.Generator().manual_seed(0)) * 50 + 5
        with torch.no_grad():
            probe = fit_linear_probe(model.encode(env.render(pos, env.sample_layout(64))), pos)
        run = RunDir.create(root / "wm", "tiny-wm")
        run.write_config({"layout": "fixed", "env": {"max_episode_steps": 12}})
        paths = {"world": run.save_checkpoint("world_model", checkpoint_state("two-rooms", model, config, idm, probe))}

        def fill(command: str, runs: Path) -> list[str]:
            return [a.replace("<runs>", str(runs)).replace("<world>", str(paths["world"])) for a in BASES[command]]

        assert main(fill("agent-train", root / "agent")) == 0
        paths["learned"] = root / "agent" / "run"
        assert main(fill("ssl-train", root / "ssl")) == 0
        paths["ssl"] = root / "ssl" / "run" / "checkpoints" / "last.pt"
        assert main(fill("collect", root)) == 0
        paths["data"] = root / "data"
        paths["shared"] = root / "shared"
        make_existing_run(paths["shared"])
    finally:
        os.chdir(cwd)
    for key in ("world", "learned", "ssl", "data"):
        assert Path(paths[key]).exists(), key
    before_all = {key: snapshot(root / key) for key in ("wm", "agent", "ssl", "data", "shared")}
    yield paths
    for key, files in before_all.items():  # no example touched a fixture or the existing run
        assert snapshot(root / key) == files, f"an example changed {root / key}"


def _note(text: str) -> None:
    """``hypothesis.note`` inside a fuzz example (printed with a failing one); nothing elsewhere."""
    try:
        note(text)
    except InvalidArgument:
        pass


class CapExceeded(BaseException):
    """Raised by SIGALRM inside a run that went over CAP_SECONDS (a BaseException: no ``except
    Exception`` in the code under test swallows it)."""


def _alarm(signum, frame):
    raise CapExceeded()


def run_capped(argv: list[str]) -> tuple[int | str | None, bool]:
    """``(exit code, over the cap)`` of ``hjepa <argv>``; other exceptions propagate."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CAP_SECONDS)
    try:
        try:
            return main(argv), False
        except SystemExit as stop:
            return stop.code, False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CapExceeded:
        return None, True
    finally:
        signal.signal(signal.SIGALRM, previous)


def check_example(command: str, case: dict, fixtures: dict[str, Path], example: Path, capsys) -> tuple[int, str]:
    """Run one example in the fresh directory ``example`` and check everything the module docstring
    promises; returns the exit code and what the run wrote on stderr."""
    cwd, play, exist, runs = example / "a" / "b" / "cwd", example / "play", example / "exist", example / "runs"
    for directory in (cwd, play / "dir", play / "deep"):
        directory.mkdir(parents=True)
    (play / "corrupt.pt").write_bytes(b"\x80\x04this is not a checkpoint")
    world = Path(fixtures["world"]).read_bytes()
    (play / "half.pt").write_bytes(world[: len(world) // 2])
    (play / "garbage.json").write_bytes(b"\xff\xfe{not json")
    (play / "text.txt").write_text("a file, not a directory\n")
    for name, content in CONFIGS.items():
        (play / name).write_text(content)
    make_existing_run(exist)
    tokens = list(case["tokens"])
    if case["target"] is not None:
        aimed = "<target>/existing"
        tokens += ["--out", aimed] if command == "collect" else ["--runs-root", "<target>", "--name", "existing"]
        tokens += case["target"].split()[1:]
    # Only an example that may move a run aside gets the per-example copy; the others aim at the
    # run directory made before fuzzing, which must stay byte for byte.
    may_move = any("overwrite" in t or "resume" in t for t in tokens)
    places = {"<target>": str(exist if may_move else fixtures["shared"]), "<runs>": str(runs), "<play>": str(play),
              "<exist>": str(exist), "<world>": str(fixtures["world"]), "<ssl>": str(fixtures["ssl"]),
              "<learned>": str(fixtures["learned"]), "<data>": str(fixtures["data"])}

    def resolve(token: str) -> str:
        for key, value in places.items():
            token = token.replace(key, value)
        return token

    argv = [resolve(t) for t in BASES[command] + tokens]
    _note(f"argv: hjepa {shlex.join(argv)}")
    shared = snapshot(fixtures["shared"])
    existing = snapshot(exist / "existing")
    capsys.readouterr()
    old_cwd = Path.cwd()
    os.chdir(cwd)
    try:
        code, over = run_capped(argv)
    finally:
        os.chdir(old_cwd)
        torch.set_num_threads(1)  # --threads N changes torch's global setting
    out, err = capsys.readouterr()
    _note(f"exit code {code!r}; stderr tail: {err[-2000:]}")
    assert not over, f"hjepa {shlex.join(argv)} ran over {CAP_SECONDS} s"
    assert code in (0, 2), f"exit code {code!r} (expected 0 or 2) from hjepa {shlex.join(argv)}"
    assert "Traceback" not in err, err
    if code == 2 and "hjepa: error:" in err:  # main's own report: one line, the last thing written
        last = err.strip().splitlines()[-1]
        assert last.startswith("hjepa: error:"), f"the error message is not one line: {err[-1000:]!r}"
    assert snapshot(fixtures["shared"]) == shared, f"the existing run {fixtures['shared']} was changed"
    if case["target"] is not None and not may_move:
        assert code == 2, f"a run into the existing run directory was not refused: hjepa {shlex.join(argv)}"
    if not may_move:
        assert snapshot(exist / "existing") == existing, "an example without --overwrite changed an existing run"
    kept = [p for p in exist.rglob("sentinel.txt") if p.read_text() == SENTINEL]
    assert kept, f"the existing run's sentinel is gone (deleted, not moved aside): hjepa {shlex.join(argv)}"
    shutil.rmtree(example, ignore_errors=True)
    return code, err


def needs_extras(command: str) -> None:
    if command == "gym":  # the base runs Pendulum, the cheapest environment
        pytest.importorskip("pygame", reason="pygame is not installed (pip install 'hjepa[envs]')")
        os.environ.setdefault("MUJOCO_GL", "egl")


def fuzz(command: str, examples: int, fixtures: dict[str, Path], tmp_path_factory, capsys) -> None:
    needs_extras(command)

    @seed(zlib.crc32(command.encode()))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=True,
              phases=(Phase.explicit, Phase.generate, Phase.shrink),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(case=fuzz_case(command))
    def one(case: dict) -> None:
        check_example(command, case, fixtures, tmp_path_factory.mktemp(f"fuzz-{command}"), capsys)

    one()


def _split(total: int) -> dict[str, int]:
    return {command: max(1, -(-total // len(COMMANDS))) for command in COMMANDS}


# --------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("command", COMMANDS)
def test_option_list_matches_help(command, capsys, monkeypatch):
    """The fuzzer draws from real options: every one it knows is in ``--help`` (and there are many)."""
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit) as stop:
        main([*BASES[command][: 2 if command.startswith(("agent", "ssl")) else 1], "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    missing = [o.flag for o in OPTIONS[command] if o.flag not in out]
    assert not missing and len(OPTIONS[command]) >= 5, missing


@pytest.mark.parametrize("overwrite", [False, True], ids=["refused", "overwrite"])
@pytest.mark.parametrize("command", COMMANDS)
def test_existing_run_is_kept(command, overwrite, fixtures, tmp_path_factory, capsys):
    """The base run aimed at an existing run directory: refused and kept byte for byte without
    --overwrite; with it the run goes through and the old one survives, moved aside."""
    needs_extras(command)
    case = {"tokens": [], "target": "existing --overwrite" if overwrite else "existing"}
    code, err = check_example(command, case, fixtures, tmp_path_factory.mktemp(f"existing-{command}"), capsys)
    assert code == (0 if overwrite else 2), err


@pytest.mark.parametrize("command", COMMANDS)
def test_fuzz_cli(command, fixtures, tmp_path_factory, capsys):
    total = os.environ.get("HJEPA_FUZZ_EXAMPLES")
    examples = _split(int(total))[command] if total else DEFAULT_EXAMPLES[command]
    fuzz(command, examples, fixtures, tmp_path_factory, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_fuzz_cli_large(command, fixtures, tmp_path_factory, capsys):
    fuzz(command, _split(SLOW_TOTAL)[command], fixtures, tmp_path_factory, capsys)
