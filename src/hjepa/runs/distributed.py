"""One job over several processes (``torchrun --nproc-per-node N -m hjepa ...``): who this process
is, which rows of the batch it owns, and how the processes agree, average and end together.

The single-process run is the reference; a run over ``W`` processes is built to compute the same
thing, up to floating-point reordering:

* every process draws the same *global* batch (same seeded generators) and keeps its contiguous
  block of rows ``[r * B / W, (r + 1) * B / W)`` (``local_rows``). That is the order in which
  ``hjepa.objectives.gather.gather_batch`` concatenates the blocks, so a loss that gathers its
  batch statistics sees the single-process batch, row for row;
* the gradients are averaged over processes (``DistributedDataParallel``, or ``average_gradients``
  for loops that call a model's methods rather than its ``forward``): a term that is a mean over
  the local rows then gets the gradient of its mean over the global batch, and a gathered term its
  single-process gradient (see ``objectives/gather.py``);
* only rank 0 writes files. ``agree`` lets the other ranks fail cleanly when rank 0 could not (e.g.
  its run directory already exists); a ``Handover`` gives them what rank 0 prepared alone;
  ``leave_together`` keeps a rank from tearing the process group down while another still uses it.

With one process (no ``torchrun``) every function here is the identity or does nothing.
Image-SSL specifics (global-batch BatchNorm, DDP around a method) live in ``hjepa.ssl.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable

import torch
import torch.distributed as dist
from torch import Tensor

from hjepa.errors import InputError


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: rank, world size and the device it trains on."""

    rank: int
    """This process's rank (0 when not distributed)."""
    world_size: int
    """Number of processes (1 when not distributed)."""
    local_rank: int
    """Rank on this machine (picks the GPU)."""
    device: torch.device
    """Device of the model and of the batches."""
    owns_group: bool
    """Whether ``init_distributed`` created the process group (and ``shutdown`` should end it)."""

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and logs (rank 0)."""
        return self.rank == 0


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``"auto"``: the GPU of this process when CUDA is available, else the CPU; otherwise the
    named device (``"cpu"``, ``"cuda"``, ``"cuda:1"``...), with a clear error for a missing GPU."""
    if device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise InputError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:<index>'") from error
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} requested but CUDA is not available; use --device cpu")
        if resolved.index is None:
            resolved = torch.device(f"cuda:{local_rank}")
    return resolved


def init_distributed(device: str = "auto", timeout: timedelta | None = None) -> DistributedContext:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1), if any.

    Uses NCCL when training on CUDA, gloo otherwise. Safe to call when a group already exists (it
    is reused and left to its owner) and in a plain single process (nothing is initialised).
    ``timeout`` bounds every collective of a new group (torch's default when None: 30 minutes for
    gloo, 10 for NCCL); a job whose rank 0 works alone for longer (collecting data, evaluating)
    while the others wait for it needs more.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, resolved, owns_group=False)
    if world <= 1:
        return DistributedContext(0, 1, 0, resolved, owns_group=False)
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
        dist.init_process_group("nccl", device_id=resolved, timeout=timeout)
    else:
        dist.init_process_group("gloo", timeout=timeout)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, resolved, owns_group=True)


def leave_together(context: DistributedContext) -> None:
    """Wait for every rank before a successful run ends (rank 0 still evaluates while the others are
    done): a rank that tears its gloo group down while another still uses the connection can abort
    with 'terminate called without an active exception' (seen once on a loaded 2-core machine)."""
    if context.world_size > 1 and dist.is_initialized():
        dist.barrier()


def shutdown_distributed(context: DistributedContext) -> None:
    """End the process group if ``init_distributed`` created it."""
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def agree(context: DistributedContext, error: BaseException | None) -> None:
    """After a step only rank 0 performs (creating the run directory), raise on every rank if it
    failed: rank 0 re-raises its own error, the others an ``InputError`` quoting it."""
    if context.world_size == 1:
        if error is not None:
            raise error
        return
    message = [f"{type(error).__name__}: {error}" if error is not None else None]
    dist.broadcast_object_list(message, src=0)
    if error is not None:
        raise error
    if message[0] is not None:
        raise InputError(f"rank 0 failed, so rank {context.rank} stops too: {message[0]}")


class Handover:
    """Rank 0 hands the other ranks one value, once: what it prepared alone (the paths of the data
    it collected, the weights and random states training starts from).

    Rank 0 calls ``send(value)``, or ``fail(error)`` when it stopped before it could (in an
    ``except`` block; after a send it does nothing: the others hold their value and see the process
    group break if rank 0 stops later); the other ranks call ``receive()``, which returns the value
    (pickled: paths, numbers, CPU tensors, state dicts) or raises rather than waiting for a value
    that never comes. With one process nothing is sent.
    """

    def __init__(self, context: DistributedContext) -> None:
        self.context = context
        self.done = False

    def send(self, value: object) -> None:
        """Rank 0: give ``value`` to the other ranks."""
        self._broadcast(None, value)

    def fail(self, error: BaseException) -> None:
        """Rank 0: tell the other ranks that ``error`` stopped it (nothing if the value was sent)."""
        self._broadcast(f"{type(error).__name__}: {error}", None)

    def receive(self) -> object:
        """Ranks other than 0: rank 0's value.

        Raises:
            InputError: rank 0 failed before it sent (the message quotes its error).
        """
        box: list[object] = [None, None]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None:
            raise InputError(f"rank 0 failed, so rank {self.context.rank} stops too: {box[0]}")
        return box[1]

    def _broadcast(self, message: str | None, value: object) -> None:
        if self.done or self.context.world_size == 1:
            return
        self.done = True
        dist.broadcast_object_list([message, value], src=0)


def local_rows(batch_size: int, context: DistributedContext) -> slice:
    """This process's contiguous block of the global batch.

    Raises:
        InputError: ``batch_size`` not divisible by the world size, or fewer than 2 rows per process
            (the objectives need batch statistics).
    """
    world = context.world_size
    if batch_size % world != 0:
        raise InputError(f"batch_size {batch_size} must be divisible by the number of processes {world}")
    per_rank = batch_size // world
    if per_rank < 2:
        raise InputError(f"batch_size {batch_size} over {world} processes leaves {per_rank} row(s) each; need >= 2")
    return slice(context.rank * per_rank, (context.rank + 1) * per_rank)


def average_over_processes(values: Tensor, context: DistributedContext) -> Tensor:
    """The mean over processes of ``values`` (any shape, detached; a new tensor). With one process,
    ``values`` itself. Means over local rows average to the global-batch mean (equal row counts)."""
    if context.world_size == 1:
        return values
    out = values.detach().clone()
    dist.all_reduce(out)
    return out / context.world_size


def average_gradients(parameters: Iterable[Tensor], context: DistributedContext) -> None:
    """Replace each ``.grad`` by its mean over processes, in place, as ``DistributedDataParallel``
    does after ``backward`` (one all-reduce per dtype). Parameters without a gradient are skipped:
    every process must run the same graph, so they are the same everywhere. One process: nothing."""
    if context.world_size == 1:
        return
    by_kind: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for p in parameters:
        if p.grad is not None:
            by_kind.setdefault((p.grad.device, p.grad.dtype), []).append(p.grad)
    for grads in by_kind.values():
        flat = torch.cat([g.reshape(-1) for g in grads])  # (sum of numels,)
        dist.all_reduce(flat)
        flat /= context.world_size
        for grad, part in zip(grads, flat.split([g.numel() for g in grads])):
            grad.copy_(part.view_as(grad))
