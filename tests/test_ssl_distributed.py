"""Two CPU processes (torchrun, gloo) train exactly like one process on the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from hjepa.runs.distributed import DistributedContext, local_rows
from hjepa.runs.metrics import read_metrics
from hjepa.runs.run_dir import RunDir
from hjepa.ssl.config import SSLTrainConfig
from hjepa.ssl.data import load_ssl_data
from hjepa.ssl.distributed import GlobalBatchNorm, sync_batchnorm
from hjepa.ssl.trainer import train_ssl

OPTIONS = {"dataset": "digits", "width": 4, "projector_dim": 16, "steps": 3, "batch_size": 16, "warmup_steps": 2,
           "log_every": 1, "rank_images": 64, "precision": "fp32", "checkpoint_every": 0, "device": "cpu",
           "threads": 1, "progress": False}


def argv(options: dict) -> list[str]:
    out = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        out += [flag] if value is True else [flag.replace("--", "--no-", 1)] if value is False else [flag, str(value)]
    return out


def test_two_processes_match_one(tmp_path):
    runs, cwd = tmp_path / "runs", tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    env.update(HJEPA_PROGRESS="0", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "hjepa", "ssl", "train", "--name", "ddp", "--runs-root", str(runs), *argv(OPTIONS)]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("linear probe") == 1  # only rank 0 reports

    # Only rank 0 wrote files, and only inside its run directory.
    assert list(cwd.iterdir()) == [] and [p.name for p in runs.iterdir()] == ["ddp"]
    assert sorted(p.name for p in (runs / "ddp").iterdir()) == sorted(
        ["checkpoints", "config.json", "metrics.jsonl", "report.md", "spectrum.png", "summary.json",
         "tensorboard", "training_curves.png"])
    assert [p.name for p in (runs / "ddp/checkpoints").iterdir()] == ["last.pt"]

    config = SSLTrainConfig(**OPTIONS)
    single = RunDir.create(tmp_path, "single")
    train_ssl(config, single, data=load_ssl_data("digits", None, config.test_fraction))
    two = read_metrics(runs / "ddp/metrics.jsonl")
    one = read_metrics(single.path("metrics.jsonl"))
    assert [r["step"] for r in two] == [r["step"] for r in one] == [0, 1, 2]
    assert two[0]["loss"] == pytest.approx(one[0]["loss"], abs=1e-5)
    for a, b in zip(two, one):  # later steps too: the averaged gradients equal the single-process ones
        for key in ("loss", "loss/invariance", "loss/variance", "loss/covariance", "probe/loss"):
            assert a[key] == pytest.approx(b[key], abs=1e-4), (a["step"], key)
    assert [r["lr"] for r in two] == [r["lr"] for r in one]


def test_local_rows_split_the_global_batch():
    contexts = [DistributedContext(r, 4, r, torch.device("cpu"), False) for r in range(4)]
    rows = torch.cat([torch.arange(16)[local_rows(16, c)] for c in contexts])
    assert torch.equal(rows, torch.arange(16))
    with pytest.raises(ValueError, match="divisible"):
        local_rows(10, contexts[0])
    with pytest.raises(ValueError, match=">= 2"):
        local_rows(4, contexts[0])


def test_global_batchnorm_conversion_keeps_state_and_single_process_maths():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 4), nn.BatchNorm1d(4))
    x = torch.randn(5, 1, 4, 4)
    reference = model(x)
    keys = set(model.state_dict())
    converted = sync_batchnorm(model, torch.device("cpu"))
    assert isinstance(converted[1], GlobalBatchNorm) and isinstance(converted[4], GlobalBatchNorm)
    assert set(converted.state_dict()) == keys
    assert torch.allclose(converted(x), reference, atol=1e-6)  # one process: plain BatchNorm
