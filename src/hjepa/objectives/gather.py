"""Batch statistics over all processes: a differentiable all-gather and all-reduce.

Losses whose value depends on the whole batch (variances, covariances, cross-correlations,
negatives, characteristic functions) must see the *global* batch under data parallelism,
otherwise the objective changes with the number of processes. ``gather_batch`` concatenates the
per-process batches along dim 0 and routes gradients back to each process's own slice;
``all_reduce_sum`` sums a tensor over processes, again with a gradient.

Gradient scaling (why the backward passes *sum* over processes)
---------------------------------------------------------------
Under ``DistributedDataParallel`` every process ``k`` computes a loss ``L_k`` and DDP *averages*
parameter gradients, so the objective actually optimised is ``L = (1 / W) sum_k L_k``.
Process ``r`` owns the slice ``z_r`` of the gathered batch ``Z`` and is the only one whose graph
reaches the parameters through ``z_r``. The gradient we need is::

    dL / dz_r = (1 / W) sum_k dL_k / dZ [slice r]

So the backward of the gather all-reduces (SUMs) the incoming gradients ``dL_k / dZ`` over
processes and keeps slice ``r``; DDP's division by ``W`` supplies the ``1 / W``. In the common
case where every process computes the same loss on the same gathered batch (``L_k = L``), the sum
is ``W * dL / dZ`` and DDP's average gives back exactly the gradient that one process would get
computing the loss on the whole global batch. Losses that mix in per-process terms (e.g. a local
mean over local pairs, or local anchors against gathered negatives) are covered by the same
formula: their optimised objective is the mean over processes of the local losses.

Both functions assume ``torch.distributed``'s default process group, and ``gather_batch``
assumes every process contributes a tensor of the same shape (``all_gather`` requirement).
With a single process (``torch.distributed`` unavailable or not initialised, or world size 1)
both return their input unchanged: the same object, no copy, no autograd node.

Tiny example (one process)::

    >>> z = torch.randn(4, 3)
    >>> gather_batch(z) is z
    True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from hjepa.errors import InputError


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the default group; 1 when ``torch.distributed`` is not initialised."""
    return dist.get_world_size() if _distributed() else 1


def rank() -> int:
    """This process's rank in the default group; 0 when ``torch.distributed`` is not initialised."""
    return dist.get_rank() if _distributed() else 0


class _GatherBatch(torch.autograd.Function):
    """All-gather along dim 0 forward; all-reduce (sum) and take own slice backward."""

    @staticmethod
    def forward(ctx: Any, z: Tensor) -> Tensor:
        z = z.contiguous()
        parts = [torch.empty_like(z) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, z)
        ctx.start = dist.get_rank() * z.shape[0]
        ctx.length = z.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()  # all_reduce is in place; never touch autograd's buffer
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad.narrow(0, ctx.start, ctx.length)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes forward; sum of the processes' incoming gradients backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        out = x.contiguous().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def gather_batch(z: Tensor) -> Tensor:
    """Concatenate ``z (N, ...)`` from all processes along dim 0, differentiably.

    Args:
        z: this process's batch ``(N, ...)``; every process must pass the same shape and dtype.
    Returns:
        ``(W * N, ...)`` with process ``r``'s rows at ``[r * N, (r + 1) * N)``. Gradients flow
        back to this process's own slice, summed over processes (see the module docstring: this
        is the scaling that makes DDP's gradient averaging exact). With one process, ``z`` itself.

    Example (two processes holding ``[[1.]]`` and ``[[2.]]``): both get ``[[1.], [2.]]``.
    """
    if z.dim() < 1:
        raise InputError(f"gather_batch needs a tensor with a batch dim, got a scalar of shape {tuple(z.shape)}")
    if world_size() == 1:
        return z
    return _GatherBatch.apply(z)


def all_reduce_sum(x: Tensor) -> Tensor:
    """Sum ``x`` (any shape) over all processes, differentiably.

    The backward sums the incoming gradients over processes, for the same reason as
    ``gather_batch``'s: with DDP's averaging the result is the gradient of the mean (over
    processes) of the losses. With one process, ``x`` itself.

    Example (two processes holding ``1.`` and ``2.``): both get ``3.``.
    """
    if world_size() == 1:
        return x
    return _AllReduceSum.apply(x)
