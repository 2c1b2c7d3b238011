"""Data-parallel image SSL over several processes (``torchrun --nproc-per-node N -m hjepa ssl train``).

The process plumbing (rank, rows of the global batch, agreeing, leaving together) is
``hjepa.runs.distributed``; what SSL adds:

* BatchNorm layers normalise with the statistics of the global batch (``sync_batchnorm``): torch's
  ``SyncBatchNorm`` on GPUs, ``GlobalBatchNorm`` below elsewhere (``SyncBatchNorm`` refuses CPU
  tensors);
* ``DistributedDataParallel`` averages the gradients; with the gather's backward (a sum over
  processes) this gives exactly the single-process gradient (see ``objectives/gather.py``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from hjepa.errors import InputError
from hjepa.objectives.gather import all_reduce_sum
from hjepa.runs.distributed import DistributedContext


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
