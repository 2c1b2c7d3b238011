"""TensorBoard mirror of a run: scalars from RunDir.log and images from RunDir.publish read back from
the event files; off by default, a no-op without the tensorboard package, metrics.jsonl unchanged."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from hjepa.runs import tensorboard as tb
from hjepa.runs.run_dir import METRICS_FILE, RunDir, file_mode

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

RECORDS = [
    ({"loss/total": torch.tensor(0.5), "lr": 1e-3, "phase": "dagger", "diverged": float("nan"), "probe": None,
      "collapsed": True, "sizes": [1, 2], "count": np.int64(7)}, 3),
    ({"loss/total": 0.25, "lr": 5e-4, "phase": "dagger", "collapsed": False, "count": 9}, 7),
]


def events(run: RunDir) -> EventAccumulator:
    accumulator = EventAccumulator(str(run.path("tensorboard")), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def write_gif(path, frames: int, size=(6, 4)) -> None:
    images = [Image.new("RGB", size, (4 * i % 256, 0, 255 - 2 * i % 256)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=50, loop=0)


def test_log_writes_numbers_as_scalars(tmp_path):
    with RunDir.create(tmp_path, "tb", tensorboard=True) as run:
        for metrics, step in RECORDS:
            run.log(metrics, step=step)
    read = events(run)
    assert set(read.Tags()["scalars"]) == {"loss/total", "lr", "collapsed", "count"}
    assert [(e.step, e.value) for e in read.Scalars("loss/total")] == [(3, 0.5), (7, 0.25)]
    assert [e.value for e in read.Scalars("lr")] == pytest.approx([1e-3, 5e-4])
    assert [e.value for e in read.Scalars("collapsed")] == [1.0, 0.0]
    assert [e.value for e in read.Scalars("count")] == [7.0, 9.0]
    files = list(run.path("tensorboard").iterdir())
    assert files and all(f.stat().st_mode & 0o777 == file_mode() for f in files)


def test_publish_png_and_gif(tmp_path):
    run = RunDir.create(tmp_path, "tb", tensorboard=True)
    Image.new("RGB", (8, 5), (255, 0, 0)).save(run.path("curves.png"))
    write_gif(run.path("episodes.gif"), 5)
    write_gif(tmp_path / "long.gif", 100)
    run.publish("curves.png")
    run.publish(run.path("episodes.gif"))
    run.publish(tmp_path / "long.gif", tag="long")
    run.close()
    read = events(run)
    assert set(read.Tags()["images"]) == {"curves.png", "episodes.gif", "long"}
    (png,) = read.Images("curves.png")
    assert (png.step, png.width, png.height) == (0, 8, 5)
    assert Image.open(io.BytesIO(png.encoded_image_string)).convert("RGB").getpixel((0, 0)) == (255, 0, 0)
    assert [e.step for e in read.Images("episodes.gif")] == [0, 1, 2, 3, 4]
    third = Image.open(io.BytesIO(read.Images("episodes.gif")[2].encoded_image_string)).convert("RGB")
    assert third.size == (6, 4) and third.getpixel((0, 0)) == (8, 0, 251)
    steps = [e.step for e in read.Images("long")]
    assert len(steps) == tb.MAX_FRAMES and steps[0] == 0 and steps[-1] == 99 and steps == sorted(set(steps))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        RunDir(run.root, tensorboard=True).publish("missing.png")
    run.write_json("summary.json", {})
    with pytest.raises(ValueError, match="only .png and .gif"):
        RunDir(run.root, tensorboard=True).publish("summary.json")


def test_off_writes_no_tensorboard_and_the_same_metrics(tmp_path):
    on = RunDir.create(tmp_path, "on", tensorboard=True)
    off = RunDir.create(tmp_path, "off")
    for metrics, step in RECORDS:
        assert on.log(metrics, step=step) == off.log(metrics, step=step)
    on.log({"final": 1.0})  # no step: metrics.jsonl as always, TensorBoard at step 0
    off.log({"final": 1.0})
    off.publish("missing.gif")  # off: nothing is read or checked
    on.close()
    off.close()
    assert on.path(METRICS_FILE).read_bytes() == off.path(METRICS_FILE).read_bytes()
    assert not off.path("tensorboard").exists() and not off.tensorboard.enabled
    assert [e.step for e in events(on).Scalars("final")] == [0]


def test_reopen_appends(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nothing")):
        RunDir.reopen(tmp_path, "nothing")
    first = RunDir.create(tmp_path, "r", tensorboard=True)
    first.log({"loss": 1.0}, step=0)
    first.close()
    again = RunDir.reopen(tmp_path, "r", tensorboard=True)
    assert again.root == first.root
    again.log({"loss": 0.5}, step=1)
    again.close()
    assert [(e.step, e.value) for e in events(again).Scalars("loss")] == [(0, 1.0), (1, 0.5)]
    assert len(again.path(METRICS_FILE).read_text().splitlines()) == 2


def test_missing_tensorboard_is_a_no_op(tmp_path, monkeypatch):
    monkeypatch.setattr(tb, "_warned", False)
    monkeypatch.setattr(tb, "tensorboard_available", lambda: False)
    with pytest.warns(UserWarning, match="tensorboard package is not installed"):
        run = RunDir.create(tmp_path, "no-package", tensorboard=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        RunDir.create(tmp_path, "no-package-2", tensorboard=True)
    run.log({"loss": 1.0}, step=0)
    run.publish("missing.png")
    run.close()
    assert not run.path("tensorboard").exists() and run.path(METRICS_FILE).is_file()


def test_broken_tensorboard_import_is_a_no_op(tmp_path, monkeypatch):
    monkeypatch.setattr(tb, "_warned", False)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises ImportError
    run = RunDir.create(tmp_path, "broken", tensorboard=True)
    with pytest.warns(UserWarning, match="cannot be imported"):
        run.log({"loss": 1.0}, step=0)
    run.log({"loss": 0.5}, step=1)
    assert not run.tensorboard.enabled and not run.path("tensorboard").exists()


def test_run_dir_does_not_import_tensorboard():
    code = "import sys, hjepa.runs.run_dir; assert 'torch.utils.tensorboard' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
