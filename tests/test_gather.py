"""Global-batch objectives under 2 CPU processes (gloo) equal one process on the whole batch."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hjepa.objectives.barlow import barlow_twins_loss
from hjepa.objectives.gather import all_reduce_sum, gather_batch, rank, world_size
from hjepa.objectives.infonce import info_nce_loss
from hjepa.objectives.sigreg import lejepa_loss, sigreg_loss
from hjepa.objectives.vicreg import vc_regularizer, vicreg_loss

WORLD = 2
N_GLOBAL, D = 8, 3  # 4 rows per process


def _directions() -> torch.Tensor:
    return torch.randn(5, D, generator=torch.Generator().manual_seed(7), dtype=torch.float64)


# name -> (loss of the local tensors, the dim along which the global tensors are split);
# ``rank_`` is the process rank (0 in the single-process reference)
def _vicreg(rank_, a, b):
    return vicreg_loss(a, b).total


def _vc(rank_, a):
    return vc_regularizer(a, var_weight=25.0, cov_weight=1.0)


def _barlow(rank_, a, b):
    return barlow_twins_loss(a, b, lambd=0.5).total


def _info_nce(rank_, a, b):
    return info_nce_loss(a, b, temperature=0.5)


def _sigreg(rank_, a):
    return sigreg_loss(a, num_points=9, directions=_directions())


def _sigreg_sampled(rank_, a):
    # each rank seeds differently: rank 0's directions must be broadcast to all
    return sigreg_loss(a, num_directions=4, num_points=9, generator=torch.Generator().manual_seed(rank_))


def _lejepa(rank_, views):
    return lejepa_loss(views, num_global=2, lambd=0.3, num_points=9, directions=_directions()).total


CASES = {
    "vicreg": (_vicreg, 0),
    "vc_regularizer": (_vc, 0),
    "barlow": (_barlow, 0),
    "info_nce": (_info_nce, 0),
    "sigreg": (_sigreg, 0),
    "sigreg_sampled": (_sigreg_sampled, 0),
    "lejepa": (_lejepa, 1),
}


def _inputs() -> dict[str, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(N_GLOBAL, D, generator=g, dtype=torch.float64)
    b = a + 0.5 * torch.randn(N_GLOBAL, D, generator=g, dtype=torch.float64)
    views = torch.randn(3, N_GLOBAL, D, generator=g, dtype=torch.float64)
    one = 0.7 * torch.randn(N_GLOBAL, D, generator=g, dtype=torch.float64)
    return {
        "vicreg": [a, b],
        "vc_regularizer": [one],
        "barlow": [a, b],
        "info_nce": [a, b],
        "sigreg": [a],
        "sigreg_sampled": [one],
        "lejepa": [views],
    }


def _run(rank_: int, inputs: dict[str, list[torch.Tensor]]) -> dict[str, tuple[torch.Tensor, list[torch.Tensor]]]:
    """Loss and input gradients with process ``rank_`` holding its slice of each global tensor.

    The global tensors are leaves replicated on every process (like DDP's parameters) and each
    process feeds its own slice to the loss, so the leaves' gradients are what DDP would average.
    """
    out = {}
    for name, (loss_fn, dim) in CASES.items():
        leaves = [x.clone().requires_grad_() for x in inputs[name]]
        size = leaves[0].shape[dim] // world_size()
        local = [x.narrow(dim, rank_ * size, size) for x in leaves]
        loss = loss_fn(rank_, *local)
        loss.backward()
        out[name] = (loss.detach(), [x.grad for x in leaves])
    return out


def _worker(rank_: int, init_file: str, out_dir: str, inputs: dict[str, list[torch.Tensor]]) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank_, world_size=WORLD, timeout=datetime.timedelta(seconds=60)
    )
    try:
        assert world_size() == WORLD and rank() == rank_
        full = inputs["vicreg"][0]
        local = full[rank_ * 4 : (rank_ + 1) * 4]
        summed = all_reduce_sum(torch.tensor([float(rank_ + 1)], dtype=torch.float64))
        results = {"gathered": gather_batch(local), "summed": summed, "losses": _run(rank_, inputs)}
        torch.save(results, Path(out_dir) / f"rank{rank_}.pt")
    finally:
        dist.destroy_process_group()


def test_single_process_is_identity():
    z = torch.randn(3, 2)
    assert world_size() == 1 and rank() == 0
    assert gather_batch(z) is z
    assert all_reduce_sum(z) is z
    with pytest.raises(ValueError, match="batch dim"):
        gather_batch(torch.tensor(1.0))


def test_two_processes_match_one_process_on_global_batch(tmp_path):
    inputs = _inputs()
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path), inputs), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    reference = _run(0, inputs)  # this process: torch.distributed not initialised -> one process

    for r in ranks:
        torch.testing.assert_close(r["gathered"], inputs["vicreg"][0], rtol=0, atol=0)
        assert r["summed"].item() == 3.0
    for name in CASES:
        ref_loss, ref_grads = reference[name]
        losses = [r["losses"][name][0] for r in ranks]
        # (a) the DDP objective (mean of the per-process losses) is the one-process loss; losses
        # built only from global statistics are equal on every process
        torch.testing.assert_close(sum(losses) / WORLD, ref_loss, msg=f"{name}: loss")
        if name in ("barlow", "sigreg", "sigreg_sampled", "vc_regularizer"):
            for loss in losses:
                torch.testing.assert_close(loss, ref_loss, msg=f"{name}: per-rank loss")
        # (b) DDP-averaged gradients are the one-process gradients
        for i, ref_grad in enumerate(ref_grads):
            averaged = sum(r["losses"][name][1][i] for r in ranks) / WORLD
            torch.testing.assert_close(averaged, ref_grad, msg=f"{name}: gradient of input {i}")
            assert ref_grad.abs().sum() > 0
