"""MLP heads put on top of a backbone for joint-embedding SSL: projectors and predictors."""

from __future__ import annotations

from torch import nn

from hjepa.errors import InputError


def projector(in_dim: int, dims: tuple[int, ...]) -> nn.Sequential:
    """Projector / expander: (B, in_dim) -> (B, dims[-1]).

    Linear-BN-ReLU for every entry of ``dims`` but the last, then a plain Linear (no norm, no
    activation). VICReg's expander is e.g. ``dims=(8192, 8192, 8192)``; BYOL's projector is
    ``dims=(4096, 256)``. Linears followed by BatchNorm have no bias (BN's shift replaces it).
    """
    if in_dim < 1 or not dims or min(dims) < 1:
        raise InputError(
            f"projector needs in_dim >= 1 and a non-empty tuple of positive dims, got {in_dim}, {dims}"
        )
    layers: list[nn.Module] = []
    prev = in_dim
    for hidden in dims[:-1]:
        layers += [nn.Linear(prev, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        prev = hidden
    layers.append(nn.Linear(prev, dims[-1]))
    return nn.Sequential(*layers)


def prediction_head(dim: int, hidden: int) -> nn.Sequential:
    """BYOL / SimSiam predictor: Linear-BN-ReLU-Linear, (B, dim) -> (B, dim).

    SimSiam uses a bottleneck (e.g. dim 2048, hidden 512); BYOL a wider hidden layer (256, 4096).
    """
    if dim < 1 or hidden < 1:
        raise InputError(f"prediction_head needs dim, hidden >= 1, got {dim}, {hidden}")
    return projector(dim, (hidden, dim))
