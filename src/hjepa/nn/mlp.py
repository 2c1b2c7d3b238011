"""Multi-layer perceptrons."""

from __future__ import annotations

from torch import nn

from hjepa.errors import InputError


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int, norm: bool = True) -> nn.Sequential:
    """``layers`` linear maps: in_dim -> hidden -> ... -> out_dim, with LayerNorm + GELU between.

    ``layers=1`` is a single linear map. Shapes: (..., in_dim) -> (..., out_dim).
    """
    if layers < 1:
        raise InputError(f"layers must be >= 1, got {layers}")
    dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
    modules: list[nn.Module] = []
    for i in range(layers):
        modules.append(nn.Linear(dims[i], dims[i + 1]))
        if i < layers - 1:
            if norm:
                modules.append(nn.LayerNorm(dims[i + 1]))
            modules.append(nn.GELU())
    return nn.Sequential(*modules)
