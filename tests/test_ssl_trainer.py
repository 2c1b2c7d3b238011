"""The SSL trainer at tiny sizes: run directory contents, repeatability, resumption, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

import hjepa.ssl.trainer as trainer
from hjepa.runs.metrics import read_metrics
from hjepa.runs.run_dir import RunDir
from hjepa.ssl.config import SSLTrainConfig
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.evaluation import evaluate_ssl
from hjepa.ssl.trainer import EpochSampler, train_ssl

TINY = SSLTrainConfig(
    dataset="digits", backbone="convnet", width=4, projector_dim=16, steps=4, batch_size=16,
    warmup_steps=2, log_every=1, rank_images=128, precision="fp32", progress=False, checkpoint_every=0,
)
SUMMARY_KEYS = {"linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc", "effective_rank", "collapsed",
                "embedding_effective_rank", "images_per_second", "train_seconds", "method", "dataset", "steps"}
TIMING = {"images_per_second", "train_seconds", "total_seconds", "seconds"}
RUN_FILES = ["config.json", "metrics.jsonl", "checkpoints/last.pt", "summary.json", "training_curves.png",
             "spectrum.png", "report.md"]


@pytest.fixture(scope="module")
def data():
    return load_ssl_data("digits", None, TINY.test_fraction)


@pytest.fixture(scope="module")
def vicreg_run(tmp_path_factory, data) -> tuple[Path, dict]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before conftest's per-test fixture
    try:
        run = RunDir.create(tmp_path_factory.mktemp("runs"), "vicreg")
        run.write_config(TINY.to_dict())
        summary = train_ssl(dataclasses.replace(TINY, eval_every=2, eval_images=100), run, data=data)
    finally:
        torch.set_num_threads(before)
    return run.root, summary


def without_timing(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in TIMING}


def test_run_directory_and_summary(vicreg_run):
    root, summary = vicreg_run
    for name in RUN_FILES:
        assert (root / name).is_file() and (root / name).stat().st_size > 0, name
    stored = json.loads((root / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(stored) and stored["method"] == "vicreg" and stored["steps"] == 4
    for key in ("linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc"):
        assert 0.0 <= stored[key] <= 1.0, key
    assert stored["effective_rank"] >= 1.0 and isinstance(stored["collapsed"], bool)
    assert stored["images_per_second"] > 0 and stored["train_seconds"] > 0
    assert stored == json.loads(json.dumps(summary))
    metrics = read_metrics(root / "metrics.jsonl")
    losses = [r for r in metrics if "loss" in r]
    assert [r["step"] for r in losses] == [0, 1, 2, 3]
    for key in ("loss/invariance", "loss/variance", "loss/covariance", "lr", "images_per_second",
                "probe/train_acc", "probe/loss"):
        assert all(math.isfinite(r[key]) for r in losses), key
    assert [r["step"] for r in metrics if "eval/knn_acc" in r] == [1, 3]
    assert (root / "report.md").read_text().startswith("# SSL: vicreg on digits")


def test_same_seed_repeats_and_checkpoint_evaluates_the_same(vicreg_run, data, tmp_path):
    root, summary = vicreg_run
    again = train_ssl(dataclasses.replace(TINY, eval_every=2, eval_images=100), None, data=data)
    assert without_timing(again) == without_timing(summary)
    evaluated = evaluate_ssl(root / "checkpoints/last.pt", "ev", tmp_path)
    for key in ("linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc", "effective_rank"):
        assert evaluated[key] == pytest.approx(summary[key], abs=1e-9), key
    assert {"summary.json", "spectrum.png", "report.md", "config.json"} <= {p.name for p in (tmp_path / "ev").iterdir()}


@pytest.mark.parametrize("method", ["byol", "lejepa", "vicreg-multimodal"])
def test_other_methods_train(method, data):
    config = dataclasses.replace(TINY, method=method, steps=2, num_views=3)
    summary = train_ssl(config, None, data=data)
    assert SUMMARY_KEYS <= set(summary) and summary["method"] == method
    if method == "vicreg-multimodal":  # two encoders: each is evaluated
        assert set(summary["encoders"]) == {"backbone", "backbone_b"}


def test_resume_gives_the_uninterrupted_run(tmp_path, data):
    config = dataclasses.replace(TINY, method="byol", steps=6, optimizer="lars", lr=0.2)
    straight = RunDir.create(tmp_path, "straight")
    train_ssl(config, straight, data=data)
    pieces = RunDir.create(tmp_path, "pieces")
    stopped = train_ssl(config, pieces, stop_at=3, data=data)
    assert stopped["stopped_at"] == 3 and not (pieces.root / "summary.json").exists()
    with open(pieces.path("metrics.jsonl"), "a") as log:  # a record written after the checkpoint, then a crash
        log.write(json.dumps({"step": 3, "loss": 123.0}) + "\n")
    train_ssl(config, pieces, resume_from=pieces.path("checkpoints/last.pt"), data=data)
    a = torch.load(straight.path("checkpoints/last.pt"), weights_only=True)
    b = torch.load(pieces.path("checkpoints/last.pt"), weights_only=True)
    assert a["step"] == b["step"] == 6
    assert a["method"].keys() == b["method"].keys()
    for key in a["method"]:
        if isinstance(a["method"][key], torch.Tensor):
            assert torch.equal(a["method"][key], b["method"][key]), key
    first = [without_timing(r) for r in read_metrics(straight.path("metrics.jsonl"))]
    second = [without_timing(r) for r in read_metrics(pieces.path("metrics.jsonl"))]
    assert first == second and [r["step"] for r in first] == list(range(6))
    with pytest.raises(ValueError, match="different config"):
        train_ssl(dataclasses.replace(config, lr=0.1), None, resume_from=pieces.path("checkpoints/last.pt"), data=data)


def test_nan_loss_stops_with_the_step(monkeypatch, data):
    build = trainer.build_ssl_model

    def poisoned(config, channels, size):
        method, views = build(config, channels, size)
        forward = method.forward
        method.forward = lambda batch: forward(batch)._replace(loss=forward(batch).loss * float("nan"))
        return method, views

    monkeypatch.setattr(trainer, "build_ssl_model", poisoned)
    with pytest.raises(FloatingPointError, match="not finite at step 0"):
        train_ssl(TINY, None, data=data)


@pytest.mark.parametrize("changes, error, needle", [
    ({"method": "nope"}, ValueError, "unknown SSL method"),
    ({"dataset": "nope"}, ValueError, "unknown dataset"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"num_global": 5}, ValueError, "num_global"),
])
def test_bad_config(changes, error, needle):
    with pytest.raises(error, match=needle):
        dataclasses.replace(TINY, **changes)


def test_bad_data_and_batch(tmp_path, data):
    with pytest.raises(ValueError, match="needs --data-root"):
        load_ssl_data("cifar10", None, 0.2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_ssl_data("cifar10", tmp_path / "missing", 0.2)
    with pytest.raises(FileNotFoundError, match="not a CIFAR"):
        load_ssl_data("cifar100", tmp_path, 0.2)
    with pytest.raises(ValueError, match="built in"):
        load_ssl_data("digits", tmp_path, 0.2)
    with pytest.raises(ValueError, match="exceeds"):
        train_ssl(dataclasses.replace(TINY, batch_size=100_000), None, data=data)


def test_epoch_sampler_covers_each_epoch_once():
    sampler = EpochSampler(10, 3, seed=7)
    first_epoch = torch.cat([sampler.indices(s) for s in range(3)])
    assert len(set(first_epoch.tolist())) == 9
    assert torch.equal(EpochSampler(10, 3, seed=7).indices(4), sampler.indices(4))  # no replay needed
