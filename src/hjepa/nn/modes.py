"""Evaluation mode for the length of a ``with`` block, every submodule's own flag restored after.

``module.train(was_training)`` afterwards is not the same: it sets one flag for the whole tree,
while models keep parts in eval mode on purpose (a frozen backbone, an EMA target), and evaluation
code must leave them as it found them.

Example::

    with eval_mode(encoder):
        features = encoder(images)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from torch import nn

T = TypeVar("T")


@contextmanager
def eval_mode(module: T) -> Iterator[T]:
    """Put ``module`` (an ``nn.Module``; anything else, e.g. a plain function, is left as it is) in
    eval mode inside the block and give each of its submodules back its ``training`` flag on exit,
    also when the block raises."""
    if not isinstance(module, nn.Module):
        yield module
        return
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, was_training in flags:
            m.training = was_training
