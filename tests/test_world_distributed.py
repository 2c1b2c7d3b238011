"""`hjepa gym` over two CPU processes (torchrun, gloo) trains like one process on the same global batch;
the process helpers of ``hjepa.runs.distributed`` that the world-model loop uses."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hjepa.cli import main
from hjepa.errors import InputError
from hjepa.runs.distributed import DistributedContext, Handover, average_gradients, average_over_processes
from hjepa.runs.metrics import read_metrics

# Tiny: 4 training steps of a global batch of 8 windows (4 per process), SIGReg on beside VICReg.
OPTIONS = ["--env", "pendulum", "--data.episodes", "4", "--data.steps", "30", "--data.heldout-episodes", "3",
           "--data.copies", "2", "--model.channels", "8", "16", "--model.state-dim", "16", "--model.predictor-hidden", "32",
           "--model.idm-hidden", "32", "--train.steps", "4", "--train.batch-size", "8", "--train.window", "2",
           "--train.log-every", "1", "--train.eval-every", "4", "--train.eval-windows", "16", "--train.warmup-steps", "1",
           "--loss.sigreg", "0.1", "--plan.samples", "8", "--plan.elites", "2", "--plan.iterations", "1",
           "--plan.horizon", "2", "--eval.episodes", "2", "--eval.budget-steps", "10", "--eval.goal-steps", "10",
           "--eval.record", "0", "--eval.no-baselines", "--no-progress", "--threads", "1", "--device", "cpu"]
TERMS = ("loss/total", "loss/prediction", "loss/variance", "loss/covariance", "loss/smoothness",
         "loss/inverse_dynamics", "loss/sigreg")


def torchrun(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node 2 -m hjepa gym ...`` in ``cwd``, as the user would."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    env.update(HJEPA_PROGRESS="0", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "hjepa", "gym", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_two_processes_train_the_world_model_like_one(tmp_path, capsys):
    pytest.importorskip("pygame", reason="pygame is not installed (pip install 'hjepa[envs]')")
    runs, cwd = tmp_path / "runs", tmp_path / "cwd"
    cwd.mkdir()
    done = torchrun(cwd, "--runs-root", str(runs), "--name", "two", *OPTIONS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Pendulum-v1: success") == 1  # only rank 0 reports

    # Only rank 0 wrote files, and only inside its run directory.
    assert list(cwd.iterdir()) == [] and [p.name for p in runs.iterdir()] == ["two"]
    assert main(["gym", "--runs-root", str(runs), "--name", "one", *OPTIONS]) == 0
    capsys.readouterr()
    two, one = runs / "two", runs / "one"
    files = [sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.parent.name != "tensorboard") for run in (two, one)]
    assert files[0] == files[1] and "checkpoints/world_model.pt" in files[0]
    assert len(list((two / "tensorboard").iterdir())) == 1  # one writer: rank 0's
    summaries = [json.loads((run / "summary.json").read_text()) for run in (two, one)]
    assert summaries[0]["train_steps"] == 4 and [s["processes"] for s in summaries] == [2, 1]

    # The loss and each term of every step: the 2-process values (averaged over processes) are the
    # 1-process values on the same global batch, up to the order of float sums.
    logged = [[r for r in read_metrics(run / "metrics.jsonl") if "loss/total" in r] for run in (two, one)]
    assert [r["step"] for r in logged[0]] == [r["step"] for r in logged[1]] == [0, 1, 2, 3]
    for a, b in zip(*logged):
        assert a["lr"] == b["lr"]
        for key in TERMS:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["step"], key)

    # After 4 steps the weights agree: the averaged gradients are the single-process gradients.
    states = [torch.load(run / "checkpoints/world_model.pt", weights_only=False) for run in (two, one)]
    for part in ("model", "inverse_dynamics"):
        assert states[0][part].keys() == states[1][part].keys()
        for name, value in states[0][part].items():
            torch.testing.assert_close(value, states[1][part][name], rtol=1e-4, atol=1e-4, msg=f"{part}.{name}")


def test_rank0_refusing_the_run_directory_stops_both_processes(tmp_path):
    pytest.importorskip("pygame", reason="pygame is not installed (pip install 'hjepa[envs]')")
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    (tmp_path / "runs" / "taken" / "keep.txt").write_text("an earlier run")
    done = torchrun(tmp_path, "--runs-root", str(tmp_path / "runs"), "--name", "taken", *OPTIONS)
    assert done.returncode != 0
    assert "already exists" in done.stderr and "rank 0 failed, so rank 1 stops too" in done.stderr
    assert [p.name for p in (tmp_path / "runs" / "taken").iterdir()] == ["keep.txt"]


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=60))
    context = DistributedContext(rank, 2, rank, torch.device("cpu"), owns_group=False)
    try:
        weight = torch.nn.Parameter(torch.zeros(3))
        weight.grad = torch.tensor([1.0, 2.0, 3.0]) * (rank + 1)  # ranks: g and 2g -> mean 1.5g
        unused = torch.nn.Parameter(torch.zeros(2))  # no gradient on any rank: left alone
        average_gradients([weight, unused], context)
        mean = average_over_processes(torch.tensor([float(rank), 10.0]), context)
        handover = Handover(context)
        if rank == 0:
            handover.send({"paths": ["data/train"], "state": torch.arange(3)})
            Handover(context).fail(RuntimeError("collection broke"))
            received, refused = None, None
        else:
            received = handover.receive()
            with pytest.raises(InputError, match="rank 0 failed, so rank 1 stops too: RuntimeError: collection broke"):
                Handover(context).receive()
            refused = True
        torch.save({"grad": weight.grad, "unused": unused.grad, "mean": mean, "received": received, "refused": refused},
                   Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_gradient_and_value_averaging_and_the_handover(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for r in ranks:
        torch.testing.assert_close(r["grad"], torch.tensor([1.5, 3.0, 4.5]))
        assert r["unused"] is None
        torch.testing.assert_close(r["mean"], torch.tensor([0.5, 10.0]))
    assert ranks[1]["received"]["paths"] == ["data/train"] and torch.equal(ranks[1]["received"]["state"], torch.arange(3))
    assert ranks[1]["refused"]


def test_one_process_helpers_change_nothing():
    context = DistributedContext(0, 1, 0, torch.device("cpu"), owns_group=False)
    weight = torch.nn.Parameter(torch.ones(2))
    weight.grad = torch.tensor([0.25, -1.0])
    average_gradients([weight], context)
    assert torch.equal(weight.grad, torch.tensor([0.25, -1.0]))
    values = torch.tensor([1.0, 2.0])
    assert average_over_processes(values, context) is values
    handover = Handover(context)
    handover.send({"anything": 1})  # nothing to send to
    handover.fail(RuntimeError("ignored"))
