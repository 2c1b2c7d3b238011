"""LARS: SGD with momentum and a layer-wise trust ratio (You, Gitman & Ginsburg, 2017).

"Large Batch Training of Convolutional Networks" (arXiv:1708.03888) scales each layer's update by
a *trust ratio* so that the step is a fixed fraction of the layer's weight norm, whatever the
scale of its gradient. SimCLR, BYOL, Barlow Twins and VICReg train with it at large batch sizes.
This is the variant of BYOL and VICReg, per parameter tensor ``w`` with gradient ``g``::

    u     = g + weight_decay * w                           # L2 penalty added to the gradient
    ratio = eta * ||w|| / ||u||   (1 when ||w|| = 0 or ||u|| = 0)
    u     = ratio * u
    m     = momentum * m + u                               # m starts at 0: m = u on step one
    w     = w - lr * m

Tensors with at most one dimension (biases and the gains / shifts of normalisation layers) are
*excluded*: no weight decay and no trust ratio, a plain SGD-momentum step, as in both papers
(``exclude_1d=False`` treats them like the others). The trust ratio is computed on the gradient
*including* the weight-decay term, as in the reference implementations.

Tiny example::

    >>> layer = torch.nn.Linear(3, 2)
    >>> opt = LARS(layer.parameters(), lr=0.1, weight_decay=1e-6)
    >>> layer(torch.ones(4, 3)).sum().backward()
    >>> opt.step()
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import Tensor

from hjepa.errors import InputError


def excluded_from_adaptation(parameter: Tensor) -> bool:
    """Whether LARS skips weight decay and the trust ratio for ``parameter``: biases and
    normalisation gains / shifts, recognised as tensors with at most one dimension."""
    return parameter.dim() <= 1


class LARS(torch.optim.Optimizer):
    """SGD with momentum and a per-tensor trust ratio ``eta * ||w|| / ||g + weight_decay * w||``.

    Args:
        params: parameters or parameter groups (each group may override the options below).
        lr: learning rate (the schedule's current value; SSL papers scale it as
            ``base_lr * batch_size / 256``).
        momentum: heavy-ball momentum in ``[0, 1)``.
        weight_decay: L2 coefficient added to the gradient of adapted (>= 2-D) tensors.
        eta: trust coefficient (0.001 in BYOL and VICReg).
        exclude_1d: skip weight decay and the trust ratio for tensors with <= 1 dimension.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
        exclude_1d: bool = True,
    ) -> None:
        if not lr >= 0.0:
            raise InputError(f"LARS lr must be >= 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise InputError(f"LARS momentum must be in [0, 1), got {momentum}")
        if not weight_decay >= 0.0:
            raise InputError(f"LARS weight_decay must be >= 0, got {weight_decay}")
        if not eta > 0.0:
            raise InputError(f"LARS eta must be > 0, got {eta}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, exclude_1d=exclude_1d)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise InputError("LARS does not support sparse gradients")
                update = p.grad
                if not (group["exclude_1d"] and excluded_from_adaptation(p)):
                    if group["weight_decay"] != 0.0:
                        update = update.add(p, alpha=group["weight_decay"])
                    w_norm = torch.linalg.vector_norm(p)
                    u_norm = torch.linalg.vector_norm(update)
                    one = torch.ones_like(w_norm)
                    ratio = torch.where(
                        (w_norm > 0) & (u_norm > 0), group["eta"] * w_norm / u_norm.clamp_min(1e-30), one
                    )
                    update = update * ratio
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buffer = state["momentum_buffer"]
                buffer.mul_(group["momentum"]).add_(update)
                p.add_(buffer, alpha=-group["lr"])
        return loss
