"""Read-outs of equivariance on frozen features: regression R^2 and retrieval after a predictor.

* ``mlp_regression_r2``: how well a quantity (e.g. an object's rotation as ``(cos, sin)``) is
  predicted from frozen features by a small MLP fitted on the training split, scored by R^2 on
  the test split (SIE's rotation and colour prediction; the paper also probes with an MLP).
* ``retrieval_ranks`` / ``retrieval_metrics``: given a predicted embedding per query and a gallery
  of candidate embeddings per query (one of them the true one), the rank of the true one by
  cosine similarity, and top-1 accuracy / mean reciprocal rank (SIE's "prediction" evaluation:
  predict the embedding of the transformed image, retrieve it among the embeddings of the same
  object under other transformations).

R^2 is ``1 - SSE / SST`` per output column (SST around the test mean), averaged over the columns
of each group: 1 is perfect, 0 is what the constant test mean scores, negative is worse.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hjepa.errors import InputError


def _check_pair(x: Tensor, y: Tensor, name: str) -> None:
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise InputError(f"{name}: features (N, D) and targets (N, K) with the same N, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] < 2:
        raise InputError(f"{name}: need at least 2 rows, got {x.shape[0]}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise InputError(f"{name}: features or targets contain NaN or inf")


def r2_scores(predicted: Tensor, target: Tensor) -> Tensor:
    """R^2 of each column: ``predicted, target (N, K) -> (K,)``, ``1 - SSE / SST``."""
    if predicted.shape != target.shape or target.dim() != 2:
        raise InputError(f"predicted and target must both be (N, K), got {tuple(predicted.shape)}, {tuple(target.shape)}")
    sse = (predicted - target).pow(2).sum(dim=0)
    sst = (target - target.mean(dim=0)).pow(2).sum(dim=0).clamp_min(1e-12)
    return 1.0 - sse / sst


def mlp_regression_r2(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                      groups: dict[str, slice], generator: torch.Generator, hidden: int = 128,
                      steps: int = 300, lr: float = 3e-3, weight_decay: float = 1e-4) -> dict[str, float]:
    """Fit ``Linear-ReLU-Linear`` from standardised features to targets, score R^2 on the test split.

    Args:
        train_x, test_x: frozen features ``(N, D)`` and ``(M, D)``.
        train_y, test_y: targets ``(N, K)`` and ``(M, K)``, e.g. ``[cos a, sin a, cos h, sin h]``.
        groups: named column ranges of the targets, e.g. ``{"rotation": slice(0, 2)}``; each gets
            the mean R^2 of its columns.
        generator: initialisation of the MLP (the fit is full-batch AdamW, deterministic).
        hidden, steps, lr, weight_decay: the probe's size and optimisation.
    Returns:
        ``{group: R^2}``.
    """
    _check_pair(train_x, train_y, "train")
    _check_pair(test_x, test_y, "test")
    if train_x.shape[1] != test_x.shape[1] or train_y.shape[1] != test_y.shape[1]:
        raise InputError(f"train and test disagree on sizes: {tuple(train_x.shape)}/{tuple(train_y.shape)} vs "
                         f"{tuple(test_x.shape)}/{tuple(test_y.shape)}")
    mean, std = train_x.mean(dim=0), train_x.std(dim=0).clamp_min(1e-6)
    x, xt = (train_x.float() - mean) / std, (test_x.float() - mean) / std
    y_mean, y_std = train_y.mean(dim=0), train_y.std(dim=0).clamp_min(1e-6)
    y = (train_y.float() - y_mean) / y_std
    first, second = nn.Linear(x.shape[1], hidden), nn.Linear(hidden, y.shape[1])
    with torch.no_grad():  # initialise from the generator, not the global RNG
        for layer in (first, second):
            bound = layer.in_features ** -0.5
            layer.weight.copy_((torch.rand(layer.weight.shape, generator=generator) * 2 - 1) * bound)
            layer.bias.copy_((torch.rand(layer.bias.shape, generator=generator) * 2 - 1) * bound)
    model = nn.Sequential(first, nn.ReLU(), second)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    with torch.enable_grad():
        for _ in range(steps):
            loss = (model(x) - y).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        predicted = model(xt) * y_std + y_mean
    scores = r2_scores(predicted, test_y.float())
    return {name: float(scores[columns].mean()) for name, columns in groups.items()}


def retrieval_ranks(predicted: Tensor, gallery: Tensor, target: Tensor) -> Tensor:
    """Rank (1 = best) of the true candidate among each query's gallery, by cosine similarity.

    Args:
        predicted: ``(N, D)`` one predicted embedding per query.
        gallery: ``(N, K, D)`` the candidates of each query.
        target: ``int64 (N,)`` index in ``[0, K)`` of the true candidate.
    Returns:
        ``int64 (N,)`` ranks in ``[1, K]``; ties count against the true candidate (a constant
        embedding ranks last, not first).
    """
    if predicted.dim() != 2 or gallery.dim() != 3 or gallery.shape[0] != predicted.shape[0] \
            or gallery.shape[2] != predicted.shape[1]:
        raise InputError(f"predicted (N, D) and gallery (N, K, D) must agree, got {tuple(predicted.shape)} and "
                         f"{tuple(gallery.shape)}")
    if target.shape != (predicted.shape[0],) or target.min() < 0 or target.max() >= gallery.shape[1]:
        raise InputError(f"target must hold one index in [0, {gallery.shape[1]}) per query, got {tuple(target.shape)}")
    p = nn.functional.normalize(predicted.float(), dim=-1)
    g = nn.functional.normalize(gallery.float(), dim=-1)
    similarity = torch.einsum("nd,nkd->nk", p, g)  # (N, K)
    true = similarity.gather(1, target.view(-1, 1))  # (N, 1)
    return (similarity >= true).sum(dim=1)  # the true one counts itself, so a strict winner has rank 1


def retrieval_metrics(ranks: Tensor) -> dict[str, float]:
    """``{"top1": fraction of rank 1, "mrr": mean of 1 / rank}`` of ``ranks (N,)``."""
    if ranks.dim() != 1 or ranks.numel() == 0 or ranks.min() < 1:
        raise InputError(f"ranks must be a non-empty (N,) tensor of ranks >= 1, got {tuple(ranks.shape)}")
    return {"top1": float((ranks == 1).float().mean()), "mrr": float((1.0 / ranks.float()).mean())}
