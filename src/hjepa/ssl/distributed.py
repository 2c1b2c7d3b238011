"""Data-parallel SSL training over several processes (``torchrun --nproc-per-node N -m hjepa ...``).

The single-process run is the reference; a run over ``W`` processes is built to compute the same
thing, up to floating-point reordering:

* every process samples the same *global* batch and the same views (same seeded generators), then
  keeps its contiguous block of rows ``[r * B / W, (r + 1) * B / W)`` (``local_rows``). That is the
  order in which ``hjepa.objectives.gather.gather_batch`` concatenates the blocks, so the gathered
  batch is the single-process batch, row for row, and the losses equal the single-process loss;
* BatchNorm layers normalise with the statistics of the global batch (``sync_batchnorm``): torch's
  ``SyncBatchNorm`` on GPUs, ``GlobalBatchNorm`` below elsewhere (``SyncBatchNorm`` refuses CPU
  tensors);
* ``DistributedDataParallel`` averages the gradients; with the gather's backward (a sum over
  processes) this gives exactly the single-process gradient (see ``objectives/gather.py``).

Only rank 0 writes files; ``agree`` lets the other ranks fail cleanly when rank 0 could not (e.g.
the run directory already exists).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from hjepa.errors import InputError
from hjepa.objectives.gather import all_reduce_sum


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
    """Device of the model and of the views."""
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


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE`` > 1), if any.

    Uses NCCL when training on CUDA, gloo otherwise. Safe to call when a group already exists (it
    is reused and left to its owner) and in a plain single process (nothing is initialised).
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
        dist.init_process_group("nccl", device_id=resolved)
    else:
        dist.init_process_group("gloo")
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
    failed: rank 0 re-raises its own error, the others a ``ValueError`` quoting it."""
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


def local_rows(batch_size: int, context: DistributedContext) -> slice:
    """This process's contiguous block of the global batch.

    Raises:
        ValueError: ``batch_size`` not divisible by the world size, or fewer than 2 rows per process
            (the methods need batch statistics).
    """
    world = context.world_size
    if batch_size % world != 0:
        raise InputError(f"batch_size {batch_size} must be divisible by the number of processes {world}")
    per_rank = batch_size // world
    if per_rank < 2:
        raise InputError(f"batch_size {batch_size} over {world} processes leaves {per_rank} row(s) each; need >= 2")
    return slice(context.rank * per_rank, (context.rank + 1) * per_rank)


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm over the global batch of all processes, on any device (CPU included).

    In training mode with more than one process, the per-channel mean and (biased) variance are
    computed over every process's rows in two passes (sum, then sum of squared deviations), each
    summed with the differentiable ``all_reduce_sum``; running statistics are updated as by
    ``nn.BatchNorm*d`` (unbiased variance). Otherwise (one process, or eval mode) it is plain
    BatchNorm. Every process must pass the same shape. Accepts ``(B, C)`` and ``(B, C, ...)``.
    Statistics are computed in float32 and the output keeps the input's dtype.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise InputError(f"GlobalBatchNorm expects (B, C, ...), got {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and distributed):
            return super().forward(input)
        self._check_input_dim(input)
        world = dist.get_world_size()
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        x = input.float()
        count = (x.numel() // x.shape[1]) * world
        mean = all_reduce_sum(x.sum(dim=dims)) / count
        centred = x - mean.view(shape)
        var = all_reduce_sum(centred.pow(2).sum(dim=dims)) / count
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * (count / max(count - 1, 1))
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.detach(), alpha=factor)
        return out.to(input.dtype)


def _to_global_batchnorm(module: nn.Module) -> nn.Module:
    if isinstance(module, _BatchNorm) and not isinstance(module, (GlobalBatchNorm, nn.SyncBatchNorm)):
        converted = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
            device=module.weight.device if module.affine else None,
            dtype=module.weight.dtype if module.affine else None,
        )
        with torch.no_grad():
            if module.affine:
                converted.weight.copy_(module.weight)
                converted.bias.copy_(module.bias)
                converted.weight.requires_grad_(module.weight.requires_grad)
                converted.bias.requires_grad_(module.bias.requires_grad)
        if module.track_running_stats:
            converted.running_mean = module.running_mean
            converted.running_var = module.running_var
            converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        module.add_module(name, _to_global_batchnorm(child))
    return module


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm layer by one that uses global-batch statistics: ``nn.SyncBatchNorm``
    on CUDA, ``GlobalBatchNorm`` elsewhere. Parameter and buffer names are unchanged, so state
    dicts (checkpoints, EMA targets) stay interchangeable with the plain model."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_global_batchnorm(module)


def unused_parameters(method: nn.Module, views: list[Tensor]) -> list[str]:
    """Names of trainable parameters that get no gradient from ``method(views).loss``.

    Runs one forward and an ``autograd.grad`` (no ``.grad`` is written), then restores the state
    dict (BatchNorm statistics, counters kept as extra state) and the global RNG, so the run
    continues exactly as if this check had not happened. Every process must call it (the loss may
    gather across processes).
    """
    named = [(name, p) for name, p in method.named_parameters() if p.requires_grad]
    saved = {key: value.clone() if isinstance(value, Tensor) else value for key, value in method.state_dict().items()}
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        loss = method(views).loss
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    finally:
        method.load_state_dict(saved)
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
    return [name for (name, _), grad in zip(named, grads) if grad is None]


def wrap_ddp(method: nn.Module, context: DistributedContext, find_unused: bool) -> DistributedDataParallel:
    """``DistributedDataParallel`` around ``method`` (already on ``context.device``)."""
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(method, device_ids=device_ids, find_unused_parameters=find_unused)
