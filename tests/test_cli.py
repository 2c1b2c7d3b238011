"""The ``hjepa`` command: every subcommand end to end at tiny sizes, clear errors, repeatability.

Commands run in-process through ``hjepa.cli.main`` (fast); one check goes through the installed
console script.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
import torch
import tyro

from hjepa.cli import main
from hjepa.recipes.collect import CollectCommand
from hjepa.recipes.evaluate import EvaluateCommand
from hjepa.recipes.two_rooms import TwoRoomsCommand
from hjepa.recipes.two_rooms_config import TwoRoomsJob
from hjepa.runs.metrics import read_metrics

PLAN = ["--plan.samples", "16", "--plan.elites", "4", "--plan.horizon", "4", "--plan.iterations", "1",
        "--eval.episodes", "2", "--eval.record", "1", "--no-progress"]
TINY = [
    "--data.episodes", "24", "--data.steps", "40", "--data.heldout-episodes", "12",
    "--model.channels", "8", "16", "--model.state-dim", "16", "--model.predictor-hidden", "32",
    "--model.idm-hidden", "32", "--train.steps", "6", "--train.batch-size", "8", "--train.log-every", "2",
    "--train.eval-every", "3", "--train.eval-windows", "16", "--train.warmup-steps", "2",
    "--env.max-episode-steps", "12", "--precision", "fp32", "--train.window", "4",
    "--practice.rounds", "1", "--practice.tasks", "4", "--practice.steps", "2", *PLAN,
]
RUN_FILES = ["config.json", "metrics.jsonl", "checkpoints/world_model.pt", "training_curves.png", "paths.png",
             "episodes.gif", "report.md", "summary.json", "data/meta.json"]


def strict_json(path: Path):
    """Parse JSON refusing NaN / Infinity (which strict parsers reject)."""

    def refuse(name):
        raise ValueError(f"{path} holds the non-JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


def cli(argv: list, capsys) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``hjepa <argv>`` (tyro exits with SystemExit)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """One tiny ``hjepa two-rooms`` run shared by the tests of this file."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the per-test fixture of conftest.py
    try:
        root = tmp_path_factory.mktemp("runs")
        assert main(["two-rooms", "--name", "tiny", "--runs-root", str(root), *TINY]) == 0
    finally:
        torch.set_num_threads(before)
    return root / "tiny"


# ------------------------------------------------------------------------------------ success
def test_two_rooms_writes_every_file(tiny_run):
    for name in RUN_FILES:
        assert (tiny_run / name).is_file() and (tiny_run / name).stat().st_size > 0, name
    summary = strict_json(tiny_run / "summary.json")
    assert 0.0 <= summary["success_rate"] <= 1.0 and summary["episodes"] == 2
    for key in ("planning_ms_per_step", "train_seconds", "total_seconds"):
        assert math.isfinite(summary[key]) and summary[key] > 0, key
    assert summary["train_steps"] == 6 and summary["dataset_episodes"] == 24 and summary["layout"] == "random"
    assert set(summary["controllers"]) == {"JEPA world model + MPPI", "random actions", "true simulator + MPPI"}
    assert strict_json(tiny_run / "config.json")["train"]["steps"] == 6
    state = torch.load(tiny_run / "checkpoints/world_model.pt", weights_only=True)
    assert (state["format"], state["kind"]) == ("hjepa.world_model", "two-rooms") and state["model_config"]["state_dim"] == 16
    # 6 training steps logged every 2 (and the last), then the practice round's 2 steps continue the curve
    assert [r["step"] for r in read_metrics(tiny_run / "metrics.jsonl") if "loss/total" in r] == [0, 2, 4, 5, 6, 7]
    assert summary["practice"]["rounds"] == 1 and summary["practice"]["episodes"] == 4
    assert (tiny_run / "practice/meta.json").is_file()
    assert (tiny_run / "report.md").read_text().startswith("# Two Rooms: tiny")


def test_same_seed_repeats_the_run(tiny_run, tmp_path):
    assert main(["two-rooms", "--name", "again", "--runs-root", str(tmp_path), *TINY]) == 0
    again = tmp_path / "again"

    def losses(run):  # everything logged except wall-clock time
        return [{k: v for k, v in r.items() if k != "seconds"} for r in read_metrics(run / "metrics.jsonl")]

    first, second = losses(tiny_run), losses(again)
    assert len(first) > 4 and len({r["loss/total"] for r in first if "loss/total" in r}) > 1
    for a, b in zip(first, second, strict=True):
        assert a.keys() == b.keys()
        # eval/ metrics hold a float64 least-squares probe whose LAPACK result may differ in the
        # last bits between calls; everything else must match exactly.
        for k in a:
            assert a[k] == b[k] if not k.startswith("eval/") else a[k] == pytest.approx(b[k], rel=1e-9), k
    s1, s2 = strict_json(tiny_run / "summary.json"), strict_json(again / "summary.json")
    assert s1["success_rate"] == s2["success_rate"]
    assert s1["world_model"] == pytest.approx(s2["world_model"], rel=1e-9)
    for name, row in s1["controllers"].items():
        other = s2["controllers"][name]
        assert {k: v for k, v in row.items() if "ms" not in k} == {k: v for k, v in other.items() if "ms" not in k}
    w1 = torch.load(tiny_run / "checkpoints/world_model.pt", weights_only=True)["model"]
    w2 = torch.load(again / "checkpoints/world_model.pt", weights_only=True)["model"]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert (tiny_run / "paths.png").read_bytes() == (again / "paths.png").read_bytes()  # same planned paths


def test_collect_then_train_on_it_with_fixed_layout(tmp_path, capsys):
    data = tmp_path / "data"
    code, out, err = cli(["collect", "--out", data, "--layout", "fixed", "--data.episodes", "16",
                          "--data.steps", "40", "--chunk-episodes", "8"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["episodes"] == 16 and info["steps"] == 40 and info["path"] == str(data)
    assert len(list(data.glob("*.npz"))) == 2 and (data / "meta.json").is_file()
    code, out, err = cli(["two-rooms", "--name", "fixed", "--runs-root", tmp_path, "--dataset", data,
                          "--layout", "fixed", *TINY], capsys)
    assert code == 0, err
    assert "success rate" in out
    summary = strict_json(tmp_path / "fixed" / "summary.json")
    assert summary["dataset_episodes"] == 16 and summary["layout"] == "fixed"
    assert not (tmp_path / "fixed" / "data").exists()  # the stored dataset is reused, not copied
    assert str(data) in (tmp_path / "fixed" / "report.md").read_text()


def test_evaluate_stored_checkpoint(tiny_run, tmp_path, capsys):
    code, out, err = cli(["evaluate", "--checkpoint", tiny_run / "checkpoints/world_model.pt", "--name", "ev",
                          "--runs-root", tmp_path, "--eval.no-baselines", *PLAN], capsys)
    assert code == 0, err
    assert "success rate" in out
    summary = strict_json(tmp_path / "ev" / "summary.json")
    assert summary["train_steps"] == 0 and summary["episodes"] == 2
    assert list(summary["controllers"]) == ["JEPA world model + MPPI"]
    assert (tmp_path / "ev" / "paths.png").is_file() and not (tmp_path / "ev" / "training_curves.png").exists()


def test_checkpoint_of_a_fixed_layout_run_is_evaluated_with_its_own_settings(tmp_path, capsys):
    """--layout fixed with the model options left alone trains the vector model (obs_pool 2); `evaluate`
    (`two-rooms --checkpoint`, the same code) renders and cuts its held-out windows with the checkpoint's
    settings, not the --model.* defaults (obs_pool 4, which failed: the encoder got 16x16 frames)."""
    small = ["--data.episodes", "8", "--data.steps", "40", "--data.heldout-episodes", "8", "--train.steps", "2",
             "--train.batch-size", "4", "--train.window", "4", "--train.eval-every", "2", "--train.eval-windows", "8",
             "--train.warmup-steps", "1", "--env.max-episode-steps", "12", "--precision", "fp32", "--threads", "1"]
    code, _, err = cli(["two-rooms", "--name", "fixed", "--runs-root", tmp_path, "--layout", "fixed", *small,
                        "--practice.rounds", "0", "--eval.no-baselines", *PLAN], capsys)
    assert code == 0, err
    checkpoint = tmp_path / "fixed" / "checkpoints" / "world_model.pt"
    assert torch.load(checkpoint, weights_only=True)["model_config"]["obs_pool"] == 2
    code, out, err = cli(["evaluate", "--checkpoint", checkpoint, "--name", "ev", "--runs-root", tmp_path,
                          "--threads", "1", *PLAN], capsys)
    assert code == 0, err
    assert "success rate" in out
    assert strict_json(tmp_path / "ev" / "config.json")["model"]["obs_pool"] == 2  # what was evaluated


# ------------------------------------------------------------------------------------ help
def expected_options(cls, prefix: str = "") -> set[str]:
    """``--prefix.field-name`` for every leaf field of a command's dataclass tree."""
    options = set()
    for f in fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if tyro.conf.Suppress in typing.get_args(typing.get_type_hints(cls, include_extras=True)[f.name]):
            continue  # not an option (env.fixed_layout: --layout says it)
        if cls is TwoRoomsCommand and f.name == "job":  # flattened: its fields are top-level options
            options |= expected_options(TwoRoomsJob)
        elif is_dataclass(hint):
            options |= expected_options(hint, f"{prefix}{f.name.replace('_', '-')}.")
        else:
            options.add(f"--{prefix}{f.name.replace('_', '-')}")
    return options


@pytest.mark.parametrize("command, cls", [("two-rooms", TwoRoomsCommand), ("collect", CollectCommand),
                                          ("evaluate", EvaluateCommand)])
def test_help_lists_every_option(command, cls, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping inside long option names
    code, out, _ = cli([command, "--help"], capsys)
    assert code == 0
    options = expected_options(cls)
    if command == "two-rooms":  # the job's options are flattened to the top level
        assert {"--train.lr", "--data.doorway-start-fraction", "--dataset", "--name"} <= options
    missing = sorted(o for o in options if o not in out)
    assert not missing
    assert "--env.fixed-layout" not in out  # one way to say it: --layout fixed


def test_console_script_help():
    script = Path(sys.executable).with_name("hjepa")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert all(name in done.stdout for name in ("two-rooms", "collect", "evaluate"))


# ------------------------------------------------------------------------------------ errors
def assert_clear_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.mark.parametrize("argv", [["two-rooms", "--no-such-option", "1"], ["no-such-command"]])
def test_unknown_option_or_command(argv, capsys):
    code, _, err = cli(argv, capsys)
    assert code != 0 and "Traceback" not in err
    assert argv[-2 if len(argv) > 1 else 0] in err


def test_existing_run_is_refused_and_kept(tiny_run, capsys):
    before = snapshot(tiny_run)
    root = tiny_run.parent
    code, _, err = cli(["two-rooms", "--name", "tiny", "--runs-root", root, *TINY], capsys)
    assert_clear_error(code, err, "hjepa: error:", "already exists", "--overwrite")
    code, _, err = cli(["evaluate", "--checkpoint", tiny_run / "checkpoints/world_model.pt", "--name", "tiny",
                        "--runs-root", root, *PLAN], capsys)
    assert_clear_error(code, err, "already exists")
    assert snapshot(tiny_run) == before
    assert sorted(p.name for p in root.iterdir()) == ["tiny"]


def test_runs_root_is_a_file(tmp_path, capsys):
    root = tmp_path / "runs"
    root.write_text("keep me")
    code, _, err = cli(["two-rooms", "--name", "x", "--runs-root", root, *TINY], capsys)
    assert_clear_error(code, err, str(root), "is a file")
    assert root.read_text() == "keep me"


def test_bad_input_files(tiny_run, tmp_path, capsys):
    runs = tmp_path / "runs"
    code, _, err = cli(["two-rooms", "--name", "x", "--runs-root", runs, "--dataset", tmp_path / "nope", *TINY], capsys)
    assert_clear_error(code, err, str(tmp_path / "nope"), "does not exist")

    data = tmp_path / "data"
    shutil.copytree(tiny_run / "data", data)
    chunk = next(data.glob("*.npz"))
    chunk.write_bytes(chunk.read_bytes()[:200])
    code, _, err = cli(["two-rooms", "--name", "x", "--runs-root", runs, "--dataset", data, *TINY], capsys)
    assert_clear_error(code, err, chunk.name, "corrupt or truncated")

    ckpt = tmp_path / "world_model.pt"
    good = (tiny_run / "checkpoints/world_model.pt").read_bytes()
    ckpt.write_bytes(good[: len(good) // 2])
    code, _, err = cli(["evaluate", "--checkpoint", ckpt, "--name", "x", "--runs-root", runs, *PLAN], capsys)
    assert_clear_error(code, err, str(ckpt), "corrupt or truncated")
    code, _, err = cli(["two-rooms", "--checkpoint", ckpt, "--name", "x", "--runs-root", runs, *TINY], capsys)
    assert_clear_error(code, err, str(ckpt))
    code, _, err = cli(["evaluate", "--checkpoint", tmp_path / "missing.pt", "--name", "x", "--runs-root", runs,
                        *PLAN], capsys)
    assert_clear_error(code, err, "missing.pt", "not found")
    assert not runs.exists()  # inputs are checked before a run directory is made


@pytest.mark.parametrize("option, value, needle", [
    ("--train.lr", "-1", "train.lr"),
    ("--data.doorway-start-fraction", "2", "doorway_start_fraction"),
    ("--data.episodes", "0", "data.episodes"),
    ("--model.state-dim", "0", "state_dim"),
    ("--loss.variance", "-1", "variance"),
    ("--practice.fraction", "0", "practice.fraction"),
    ("--plan.replan-every", "99", "plan.replan_every"),  # longer than the plan
    ("--train.window", "6", "shorter than a training window"),  # practice plans of 4 steps cannot hold it
])
def test_bad_config_value(option, value, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # keep the message on one line
    code, _, err = cli(["two-rooms", "--name", "x", "--runs-root", tmp_path, *TINY, option, value], capsys)
    assert_clear_error(code, err, needle)
    assert not (tmp_path / "x").exists()


def test_tyro_error_box_becomes_one_line():
    from hjepa.cli import one_line

    unicode_box = ("╭─ Value error ──────────╮\n│ Error parsing __tyro-dummy-inner__.job.plan: plan.elites (400) cannot │\n"
                   "│ exceed plan.samples (8) │\n│ ──────────── │\n│ For full helptext, see x --help │\n╰──────────╯\n")
    plain_box = (" Value error \n ---------- \n  Error parsing --train.steps: no type matching INT \n  from ['abc'] \n"
                 "  ----------\n  For full helptext, see x --help \n")
    unknown = ("╭─ Unrecognized options ─╮\n│ Unrecognized options: --no-eval.baselines │\n│ ──── │\n│ Perhaps you meant: │\n"
               "│     --eval.baselines, --eval.no-baselines │\n│         Also evaluate random actions. │\n╰──╯\n")
    assert one_line(unicode_box) == "plan.elites (400) cannot exceed plan.samples (8)"
    assert one_line(plain_box) == "--train.steps: no type matching INT from ['abc']"
    assert one_line(unknown) == "Unrecognized options: --no-eval.baselines; perhaps you meant --eval.baselines, --eval.no-baselines"


# ------------------------------------------------- runs that others can read, re-run and trust
def test_run_files_follow_the_umask(tiny_run):
    """Every file of a run is written as the umask allows (the suite runs under the usual 022 or
    stricter): never the 0600 of a bare temporary file."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    for path in tiny_run.rglob("*"):
        if path.is_file():
            assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


def test_config_file_re_runs_the_run(tiny_run, tmp_path, capsys):
    """``--config runs/<name>/config.json`` repeats a run (same settings, same numbers); later flags override."""
    config = tiny_run / "config.json"
    recorded = strict_json(config)["run"]
    assert recorded["subcommand"] == "two-rooms" and recorded["hjepa_version"] and recorded["command"]
    from hjepa.runs.provenance import command_line  # in-process, the command is the host's (pytest's) argv

    assert command_line(["/venv/bin/hjepa", "two-rooms", "--name", "a b"]) == "hjepa two-rooms --name 'a b'"
    code, _, err = cli(["two-rooms", "--config", config, "--name", "again", "--runs-root", tmp_path], capsys)
    assert code == 0, err
    first, again = strict_json(tiny_run / "summary.json"), strict_json(tmp_path / "again/summary.json")
    assert again["world_model"] == pytest.approx(first["world_model"], rel=1e-9)
    code, _, err = cli(["two-rooms", "--config", config, "--name", "more", "--runs-root", tmp_path,
                        "--train.steps", "7"], capsys)
    assert code == 0, err
    assert strict_json(tmp_path / "more/config.json")["train"]["steps"] == 7


def test_non_finite_loss_is_one_line_and_no_checkpoint(tmp_path, capsys):
    """A learning rate that blows the model up stops training at the step it happens, names the
    terms, exits 2 and writes no checkpoint (the data already collected stays)."""
    code, _, err = cli(["two-rooms", "--name", "x", "--runs-root", tmp_path, *TINY, "--train.lr", "1e6"], capsys)
    assert_clear_error(code, err, "world-model loss is not finite at step", "prediction=", "lower train.lr")
    assert err.count("\n") == 1
    assert not (tmp_path / "x/checkpoints/world_model.pt").exists()
    assert (tmp_path / "x/data/meta.json").is_file()
