"""Run directories, checkpoints, metrics, plots, GIFs and reports."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hjepa.runs.gif import write_gif
from hjepa.runs.metrics import read_metrics
from hjepa.runs.plots import plot_paths, plot_training_curves
from hjepa.runs.progress import progress
from hjepa.runs.report import markdown_table, write_report
from hjepa.runs.run_dir import RunDir, load_checkpoint


@dataclass
class _Config:
    name: str = "demo"
    lr: float = 1e-3
    sizes: tuple[int, int] = (32, 64)
    out: Path = Path("/tmp/x")
    nested: dict = field(default_factory=lambda: {"a": (1, 2)})


def test_create_makes_layout(tmp_path):
    run = RunDir.create(tmp_path / "runs", "exp")
    assert run.root == tmp_path / "runs" / "exp"
    assert (run.root / "checkpoints").is_dir()
    assert run.path("a.txt") == run.root / "a.txt"
    # an existing but empty directory is reused
    (tmp_path / "runs" / "empty").mkdir()
    assert RunDir.create(tmp_path / "runs", "empty").root.is_dir()
    with pytest.raises(ValueError):
        RunDir.create(tmp_path, "a/b")


def test_refuses_to_overwrite_and_keeps_files(tmp_path):
    run = RunDir.create(tmp_path, "exp")
    run.write_json("result.json", {"x": 1})
    with pytest.raises(FileExistsError, match="--overwrite") as info:
        RunDir.create(tmp_path, "exp")
    assert "--name" in str(info.value)
    assert json.loads((tmp_path / "exp" / "result.json").read_text()) == {"x": 1}


def test_overwrite_moves_old_run_aside(tmp_path):
    run = RunDir.create(tmp_path, "exp")
    run.write_json("result.json", {"x": 1})
    RunDir.create(tmp_path, "exp", overwrite=True)
    assert not (tmp_path / "exp" / "result.json").exists()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("exp.old-")]
    assert len(aside) == 1
    assert json.loads((aside[0] / "result.json").read_text()) == {"x": 1}
    # a second overwrite within the same second must not clobber the first backup
    RunDir(tmp_path / "exp").write_json("result.json", {"x": 2})
    RunDir.create(tmp_path, "exp", overwrite=True)
    aside = sorted(p for p in tmp_path.iterdir() if p.name.startswith("exp.old-"))
    assert len(aside) == 2
    assert sorted(json.loads((p / "result.json").read_text())["x"] for p in aside) == [1, 2]


def test_unwritable_root_gives_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root ignores permission bits
            with pytest.raises(PermissionError, match=str(locked)):
                RunDir.create(locked, "exp")
    finally:
        locked.chmod(0o700)
    # a root below a regular file cannot be created by anyone, root included
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    with pytest.raises(NotADirectoryError, match="file.txt"):
        RunDir.create(blocker / "runs", "exp")
    assert blocker.read_text() == "not a directory"


def test_write_config_and_json(tmp_path):
    run = RunDir.create(tmp_path, "exp")
    path = run.write_config(_Config())
    assert path == run.root / "config.json"
    cfg = json.loads(path.read_text())
    provenance = cfg.pop("run")  # what made the run, beside its options
    assert cfg == {"name": "demo", "lr": 1e-3, "sizes": [32, 64], "out": "/tmp/x", "nested": {"a": [1, 2]}}
    assert {"command", "subcommand", "hjepa_version", "git_commit", "machine"} <= set(provenance)
    assert provenance["machine"]["cpu_kind"] in ("AMX", "AVX-512", "AVX2", "other", "unknown") or "ATEN" in provenance["machine"]["cpu_kind"]
    assert not [p for p in run.root.iterdir() if p.name.endswith(".tmp")]


def test_checkpoint_round_trip_weights_only(tmp_path):
    run = RunDir.create(tmp_path, "exp")
    model = torch.nn.Linear(3, 2)
    state = {
        "model": model.state_dict(),
        "step": 7,
        "loss": 0.25,
        "tag": "best",
        "history": [1.0, 2.0],
        "opt": {"lr": 1e-3, "betas": (0.9, 0.99)},
        "np_scalar": np.float32(1.5),
    }
    path = run.save_checkpoint("last", state)
    assert path == run.root / "checkpoints" / "last.pt"
    raw = torch.load(path, weights_only=True)
    torch.testing.assert_close(raw["model"]["weight"], model.weight.detach())
    assert raw["step"] == 7 and raw["tag"] == "best" and raw["opt"]["betas"] == [0.9, 0.99]
    assert raw["np_scalar"] == 1.5
    loaded = run.load_checkpoint("last")
    torch.testing.assert_close(loaded["model"]["bias"], model.bias.detach())
    assert load_checkpoint(path)["loss"] == 0.25
    with pytest.raises(ValueError, match="object"):
        run.save_checkpoint("bad", {"x": object()})
    assert not (run.root / "checkpoints" / "bad.pt").exists()


def test_corrupt_and_missing_checkpoint(tmp_path):
    run = RunDir.create(tmp_path, "exp")
    path = run.save_checkpoint("ok", {"w": torch.randn(100, 100)})
    truncated = path.parent / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.pt"):
        load_checkpoint(truncated)
    garbage = path.parent / "garbage.pt"
    garbage.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        run.load_checkpoint("garbage")
    with pytest.raises(FileNotFoundError, match="missing"):
        load_checkpoint(tmp_path / "missing.pt")


def test_metrics_round_trip_with_partial_line(tmp_path):
    run = RunDir.create(tmp_path, "exp")
    run.log({"loss": torch.tensor(0.5), "acc": np.float64(0.25), "n": 3}, step=0)
    run.log({"loss": 0.25, "nan": float("nan")}, step=1)
    run.log({"note": "no step"})
    with open(run.path("metrics.jsonl"), "a") as f:
        f.write('{"step": 2, "loss": 0.1')  # killed mid-write
    records = read_metrics(run.path("metrics.jsonl"))
    assert len(records) == 3
    assert records[0] == {"step": 0, "loss": 0.5, "acc": 0.25, "n": 3}
    assert records[1]["loss"] == 0.25 and records[1]["nan"] is None  # strict JSON: NaN is written as null
    assert records[2] == {"note": "no step"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\nbroken\n{"a": 2}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_metrics(bad)
    with pytest.raises(FileNotFoundError):
        read_metrics(tmp_path / "none.jsonl")


def test_training_curves_png(tmp_path):
    metrics = [{"step": i, "loss": 10.0 ** (-i / 10), "acc": i / 50, "tag": "x"} for i in range(50)]
    out = plot_training_curves(metrics, None, tmp_path / "curves.png")
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size[0] > 200 and img.size[1] > 100
    out2 = plot_training_curves(metrics, ["loss"], tmp_path / "loss.png")
    with Image.open(out2) as img:
        assert img.format == "PNG"
    with pytest.raises(ValueError):
        plot_training_curves([{"tag": "x"}], None, tmp_path / "none.png")


def test_paths_png(tmp_path):
    walls = np.zeros((64, 64))
    walls[:, 30:33] = 1.0
    walls[25:35, 30:33] = 0.0
    t = np.linspace(0, 1, 20)[:, None]
    executed = [np.hstack([10 + 40 * t, 30 + 0 * t]), torch.tensor(np.hstack([10 + 10 * t, 10 + 0 * t]))]
    planned = [np.hstack([10 + 40 * t, 32 + 0 * t]), None]
    starts = np.array([[10.0, 30.0], [10.0, 10.0]])
    goals = np.array([[50.0, 30.0], [50.0, 50.0]])
    out = plot_paths([walls, walls], executed, planned, starts, goals, tmp_path / "paths.png", titles=["a", "b"])
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size[0] > img.size[1] > 100
    out = plot_paths(walls, executed[:1], None, None, None, tmp_path / "one.png")
    with Image.open(out) as img:
        assert img.format == "PNG"
    with pytest.raises(ValueError):
        plot_paths([walls], executed, None, starts, goals, tmp_path / "bad.png")


def test_gif_single_and_tiled(tmp_path):
    frames = np.zeros((5, 8, 8, 3), dtype=np.uint8)
    for k in range(5):
        frames[k, k, k] = 255  # a moving dot: every frame differs
    out = write_gif(frames, tmp_path / "one.gif", fps=5, scale=4)
    with Image.open(out) as img:
        assert img.format == "GIF" and img.size == (32, 32) and img.n_frames == 5
        assert img.info["duration"] == 200
    short = torch.from_numpy(frames[:3])
    out = write_gif([frames, short], tmp_path / "two.gif", scale=2)
    with Image.open(out) as img:
        assert img.size == ((8 + 2 + 8) * 2, 8 * 2) and img.n_frames == 5
    with pytest.raises(ValueError):
        write_gif(np.zeros((5, 8, 8), dtype=np.int64), tmp_path / "bad.gif")


def test_markdown_table_and_report(tmp_path):
    table = markdown_table([{"method": "vicreg", "r2": 0.98765}, {"method": "a|b", "rank": 3}], float_fmt=".2f")
    assert table.splitlines() == [
        "| method | r2 | rank |",
        "|---|---|---|",
        "| vicreg | 0.99 |  |",
        "| a\\|b |  | 3 |",
    ]
    path = write_report(tmp_path / "report.md", "Results", [("Probe", table), ("Notes", "ok\n")])
    text = path.read_text()
    assert text.startswith("# Results\n") and "## Probe\n\n| method" in text and text.endswith("ok\n")


def test_progress(monkeypatch):
    monkeypatch.setenv("HJEPA_PROGRESS", "0")
    bar = progress(4, "steps")
    assert bar.disable and list(bar) == [0, 1, 2, 3]
    monkeypatch.setenv("HJEPA_PROGRESS", "1")
    assert progress(["a", "b"], "items", enabled=False).disable
    bar = progress(["a", "b"], "items")
    assert not bar.disable and list(bar) == ["a", "b"]
    bar.close()
