"""An exponential-moving-average copy of a module: the target network of BYOL / I-JEPA.

Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020; Assran et al., "Self-Supervised
Learning from Images with a Joint-Embedding Predictive Architecture" (I-JEPA), CVPR 2023.

The target is a deep copy of the online module taken at construction. Its parameters never
require a gradient; after each optimiser step, ``update(online, momentum)`` moves them towards
the online parameters::

    target <- momentum * target + (1 - momentum) * online

and copies the online buffers (e.g. BatchNorm running statistics). The copy is an independent
module: its train/eval mode is set through the ``EMATarget`` (standard ``nn.Module``
propagation) and is never changed by ``update``. Pass the *unwrapped* online module (not a DDP
wrapper, whose parameter names carry a ``module.`` prefix).

Tiny example::

    >>> online = nn.Linear(2, 2)
    >>> target = EMATarget(online)
    >>> with torch.no_grad():
    ...     _ = online.weight.add_(1.0)
    >>> target.update(online, momentum=0.0)  # momentum 0 copies
    >>> bool(torch.equal(target.module.weight, online.weight))
    True
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from hjepa.errors import InputError


class EMATarget(nn.Module):
    """Holds ``module``, a gradient-free deep copy of an online module, updated by EMA.

    Args:
        online: the module to copy (its current parameters and buffers become the target's).
    """

    def __init__(self, online: nn.Module) -> None:
        super().__init__()
        self.module = copy.deepcopy(online)
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, online: nn.Module, momentum: float) -> None:
        """In place: ``target = momentum * target + (1 - momentum) * online``; buffers copied.

        Args:
            online: a module with the same parameter and buffer names and shapes as the copy.
            momentum: in ``[0, 1]``; ``0`` copies the online parameters, ``1`` keeps the target.
        """
        if not 0.0 <= momentum <= 1.0:
            raise InputError(f"momentum must be in [0, 1], got {momentum}")
        target_params = dict(self.module.named_parameters())
        online_params = dict(online.named_parameters())
        target_buffers = dict(self.module.named_buffers())
        online_buffers = dict(online.named_buffers())
        if target_params.keys() != online_params.keys() or target_buffers.keys() != online_buffers.keys():
            ours = target_params.keys() | target_buffers.keys()
            theirs = online_params.keys() | online_buffers.keys()
            missing = sorted(ours ^ theirs)
            raise InputError(f"online module does not match the target copy; differing names: {missing[:5]}")
        for name, target in target_params.items():
            source = online_params[name]
            if source.shape != target.shape:
                raise InputError(
                    f"parameter {name!r} has shape {tuple(source.shape)} online but {tuple(target.shape)} in the target"
                )
            target.lerp_(source.detach(), 1.0 - momentum)
        for name, target in target_buffers.items():
            target.copy_(online_buffers[name])

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Calls the copy: ``EMATarget(x) == self.module(x)`` (no ``no_grad`` is imposed)."""
        return self.module(*args, **kwargs)
