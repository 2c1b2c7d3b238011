"""``hjepa ssl train`` / ``hjepa ssl eval`` end to end at tiny sizes, help, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from hjepa.cli import main
from hjepa.recipes.ssl_eval import SSLEvalCommand
from hjepa.recipes.ssl_train import SSLTrainCommand
from hjepa.ssl.config import SSLTrainConfig

TINY = ["--dataset", "digits", "--width", "4", "--projector-dim", "16", "--steps", "4", "--batch-size", "16",
        "--warmup-steps", "2", "--log-every", "2", "--rank-images", "64", "--precision", "fp32",
        "--checkpoint-every", "0", "--no-progress"]


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
def trained(tmp_path_factory) -> Path:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before conftest's per-test fixture
    try:
        root = tmp_path_factory.mktemp("runs")
        assert main(["ssl", "train", "--name", "tiny", "--runs-root", str(root), *TINY]) == 0
    finally:
        torch.set_num_threads(before)
    return root / "tiny"


def test_train_then_eval(trained, tmp_path, capsys):
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["dataset"] == "digits"
    assert json.loads((trained / "config.json").read_text())["projector_dim"] == 16
    code, out, err = cli(["ssl", "eval", "--checkpoint", trained / "checkpoints/last.pt", "--name", "ev",
                          "--runs-root", tmp_path], capsys)
    assert code == 0, err
    assert out.startswith("linear probe") and out.count("\n") == 1
    evaluated = json.loads((tmp_path / "ev/summary.json").read_text())
    assert evaluated["linear_acc"] == pytest.approx(summary["linear_acc"], abs=1e-9)
    assert (tmp_path / "ev/report.md").read_text().startswith("# SSL evaluation: ev")


def test_stop_and_resume_from_the_command_line(tmp_path, capsys):
    code, out, err = cli(["ssl", "train", "--name", "r", "--runs-root", tmp_path, *TINY, "--stop-at", "2"], capsys)
    assert code == 0, err
    assert "stopped at step 2 of 4" in out and not (tmp_path / "r/summary.json").exists()
    code, out, err = cli(["ssl", "train", "--name", "r", "--runs-root", tmp_path, *TINY, "--resume"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "r/summary.json").read_text())["steps"] == 4


@pytest.mark.parametrize("command, cls", [("train", SSLTrainCommand), ("eval", SSLEvalCommand)])
def test_help_lists_every_option(command, cls, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli(["ssl", command, "--help"], capsys)
    assert code == 0
    names = [f.name for f in fields(cls) if f.name != "config"]
    if cls is SSLTrainCommand:
        names += [f.name for f in fields(SSLTrainConfig)]
    missing = [n for n in names if f"--{n.replace('_', '-')}" not in out]
    assert not missing


def test_console_script_lists_ssl():
    script = Path(sys.executable).with_name("hjepa")
    done = subprocess.run([str(script), "ssl", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout and "eval" in done.stdout


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("hjepa: error:") and err.strip().count("\n") == 0, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_bad_inputs_give_clear_errors(trained, tmp_path, capsys):
    runs = tmp_path / "runs"
    code, _, err = cli(["ssl", "train", "--runs-root", runs, *TINY, "--dataset", "nope"], capsys)
    assert code == 2 and "Traceback" not in err and "nope" in err  # tyro's choice error
    code, _, err = cli(["ssl", "train", "--runs-root", runs, *TINY, "--method", "nope"], capsys)
    assert code == 2 and "Traceback" not in err and "nope" in err
    code, _, err = cli(["ssl", "train", "--runs-root", runs, *TINY, "--dataset", "cifar10"], capsys)
    assert_one_line_error(code, err, "needs --data-root")
    code, _, err = cli(["ssl", "train", "--runs-root", runs, *TINY, "--dataset", "mnist-idx",
                        "--data-root", tmp_path / "missing"], capsys)
    assert_one_line_error(code, err, "missing", "does not exist")
    code, _, err = cli(["ssl", "train", "--runs-root", runs, *TINY, "--lr", "-1"], capsys)
    assert_one_line_error(code, err, "lr must be a positive number")
    code, _, err = cli(["ssl", "train", "--runs-root", runs, *TINY, "--resume"], capsys)
    assert_one_line_error(code, err, "nothing to resume")
    code, _, err = cli(["ssl", "eval", "--checkpoint", tmp_path / "none.pt", "--runs-root", runs], capsys)
    assert_one_line_error(code, err, "not found")
    assert not runs.exists()  # inputs are checked before a run directory is made

    before = snapshot(trained)
    code, _, err = cli(["ssl", "train", "--name", "tiny", "--runs-root", trained.parent, *TINY], capsys)
    assert_one_line_error(code, err, "already exists", "--overwrite")
    code, _, err = cli(["ssl", "eval", "--checkpoint", trained / "checkpoints/last.pt", "--name", "tiny",
                        "--runs-root", trained.parent], capsys)
    assert_one_line_error(code, err, "already exists")
    assert snapshot(trained) == before
