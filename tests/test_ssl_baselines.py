"""Random-init and supervised reference encoders (hjepa.ssl.baselines) at tiny sizes."""

from __future__ import annotations

import dataclasses

import pytest

from hjepa.ssl.baselines import evaluate_random_init, train_supervised
from hjepa.ssl.config import SSLTrainConfig
from hjepa.ssl.data import load_ssl_data

TINY = SSLTrainConfig(dataset="digits", width=4, steps=30, batch_size=64, warmup_steps=3, lr=3e-3,
                      precision="fp32", progress=False, checkpoint_every=0)
REPORT_KEYS = {"linear_acc", "knn_acc", "semi_1pct_acc", "semi_10pct_acc", "effective_rank", "collapsed",
               "median_std", "feature_dim", "train_seconds", "method", "steps"}


@pytest.fixture(scope="module")
def data():
    return load_ssl_data("digits", None, TINY.test_fraction)


def test_random_init_is_the_untrained_backbone(data):
    first = evaluate_random_init(TINY, data)
    assert REPORT_KEYS <= set(first) and first["method"] == "random-init" and first["steps"] == 0
    assert first["feature_dim"] == 16  # convnet widths (4, 8, 16)
    assert first == {**evaluate_random_init(TINY, data), "total_seconds": first["total_seconds"]}  # seeded
    other = evaluate_random_init(dataclasses.replace(TINY, seed=1), data)
    assert other["linear_acc"] != first["linear_acc"] or other["knn_acc"] != first["knn_acc"]


def test_supervised_trains_the_backbone(data):
    summary = train_supervised(TINY, data)
    assert REPORT_KEYS <= set(summary) and summary["method"] == "supervised" and summary["steps"] == 30
    assert summary["images_per_second"] > 0 and summary["bf16"] is False
    assert 0.0 <= summary["train_accuracy"] <= 1.0 and summary["final_loss"] < 2.3  # below log(10): it learnt
    floor = evaluate_random_init(TINY, data)
    assert summary["linear_acc"] > floor["linear_acc"] - 0.05 and summary["knn_acc"] > floor["knn_acc"]


def test_supervised_epochs_and_bad_lr(data):
    assert train_supervised(dataclasses.replace(TINY, steps=1000, epochs=0.5), data)["steps"] == 12  # ceil(0.5 * 1438 / 64)
    with pytest.raises(FloatingPointError):
        train_supervised(dataclasses.replace(TINY, lr=1e30, steps=5, warmup_steps=0), data)
