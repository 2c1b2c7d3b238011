"""InfoNCE / NT-Xent: contrastive loss with in-batch negatives.

Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations" (SimCLR), ICML 2020; the InfoNCE bound is from van den Oord, Li & Vinyals,
"Representation Learning with Contrastive Predictive Coding", 2018.

Two views ``z_a, z_b (N, D)`` are L2-normalised and stacked into ``2N`` embeddings. Each one is
an anchor whose positive is the other view of the same input and whose negatives are the other
``2N - 2`` embeddings; with ``s(u, v) = u . v / temperature``::

    loss(anchor i) = -log( exp(s(i, pos(i))) / sum_{k != i} exp(s(i, k)) )

averaged over all ``2N`` anchors, so the loss is symmetric in the two views.

Distributed training: the candidates (positives and negatives) are the global batch
(``gather_batch`` of both views); the anchors are this process's ``2N`` embeddings, whose
positives sit at an offset of ``rank * N`` in the gathered views. The value is the mean over local
anchors; DDP's gradient averaging makes the optimised objective the mean over all ``2 W N``
anchors, i.e. the single-process loss on the global batch (equal ``N`` on every process).

Tiny example::

    >>> z = torch.eye(2)
    >>> loss = info_nce_loss(z, z, temperature=1.0)  # each anchor: pos sim 1, negs sim 0, 0
    >>> round(float(loss), 4)  # -log(e / (e + 2))
    0.5514
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.objectives.gather import gather_batch, rank


def info_nce_loss(z_a: Tensor, z_b: Tensor, temperature: float = 0.1) -> Tensor:
    """NT-Xent loss of two views, averaged over all ``2N`` anchors.

    Args:
        z_a, z_b: embeddings ``(N, D)`` of two views of the same ``N`` inputs; same shape. Rows
            need not be normalised (they are L2-normalised here).
        temperature: softmax temperature ``> 0``.
    Returns:
        scalar: mean over anchors of the cross-entropy of the positive among all other global
        embeddings (self-similarity excluded).
    """
    if z_a.dim() != 2 or z_b.dim() != 2:
        raise InputError(f"z_a and z_b must have shape (N, D), got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    if z_a.shape != z_b.shape:
        raise InputError(f"z_a and z_b must have the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    if not temperature > 0.0:
        raise InputError(f"temperature must be > 0, got {temperature}")
    n = z_a.shape[0]
    a, b = F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)
    both = gather_batch(torch.stack([a, b], dim=1))  # (W * N, 2, D), one collective
    if both.shape[0] < 2:
        raise InputError(
            "info_nce_loss needs at least 2 pairs (over all processes) to have a negative, "
            f"got shape {tuple(z_a.shape)}"
        )
    n_global = both.shape[0]
    candidates = torch.cat([both[:, 0], both[:, 1]], dim=0)  # (2 W N, D): all a's then all b's
    anchors = torch.cat([a, b], dim=0)  # (2 N, D)
    logits = anchors @ candidates.T / temperature  # (2 N, 2 W N)

    local = torch.arange(n, device=z_a.device) + rank() * n  # own rows in the gathered views
    self_index = torch.cat([local, local + n_global])
    positive = torch.cat([local + n_global, local])
    logits[torch.arange(2 * n, device=z_a.device), self_index] = float("-inf")  # no anchor is its own candidate
    return F.cross_entropy(logits, positive)


class InfoNCELoss(nn.Module):
    """``nn.Module`` holding the temperature; ``forward(z_a, z_b) -> scalar``.

    Args:
        temperature: softmax temperature ``> 0``.
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 0.0:
            raise InputError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        return info_nce_loss(z_a, z_b, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
