"""A transformation-conditioned predictor whose weights come from a hypernetwork (SIE's predictor).

Garrido, Najman & LeCun, "Self-supervised learning of Split Invariant Equivariant
representations", ICML 2023: the predictor that maps the equivariant embedding of one view to
that of the other is a *linear map generated from the transformation's parameters*,
``z' = W(t) z``, with ``W(t)`` the output of an MLP (the hypernetwork) on ``t``. Conditioning
only through the weights means the predictor cannot ignore ``z`` and output a function of ``t``
alone, and a linear action of the transformation on the latent space is what "equivariant"
asks for.

Here ``W(t) = I + G(t) - G(t_0)``, with ``G`` the hypernetwork reshaped to ``(D, D)`` and
``t_0`` the parameters of the identity transformation (given to the constructor), so the
identity transformation maps every embedding to itself *by construction*, at initialisation and
after training alike; ``G``'s last layer starts at zero, so ``W(t) = I`` for every ``t`` at
initialisation.

Example::

    >>> predictor = HyperPredictor(dim=3, param_dim=2, hidden=8, identity_params=(1.0, 0.0))
    >>> z = torch.randn(4, 3)
    >>> bool(torch.allclose(predictor(z, torch.tensor([[1.0, 0.0]] * 4)), z))
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class HyperPredictor(nn.Module):
    """``z (B, D), t (B, P) -> W(t) z (B, D)`` with ``W(t) = I + G(t) - G(t_0)``.

    Args:
        dim: embedding size ``D``.
        param_dim: transformation parameter size ``P``.
        hidden: hidden width of the hypernetwork ``G`` (``P -> hidden -> hidden -> D * D``, ReLU).
        identity_params: ``t_0``, the ``P`` parameters of the identity transformation.
    """

    def __init__(self, dim: int, param_dim: int, hidden: int, identity_params: Sequence[float]) -> None:
        super().__init__()
        if dim < 1 or param_dim < 1 or hidden < 1:
            raise ValueError(f"dim, param_dim and hidden must be >= 1, got {dim}, {param_dim}, {hidden}")
        identity = torch.as_tensor(list(identity_params), dtype=torch.float32)
        if identity.shape != (param_dim,) or not torch.isfinite(identity).all():
            raise ValueError(f"identity_params must be {param_dim} finite numbers, got {list(identity_params)}")
        self.dim, self.param_dim = dim, param_dim
        self.hypernet = nn.Sequential(
            nn.Linear(param_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, dim * dim)
        )
        nn.init.zeros_(self.hypernet[-1].weight)
        nn.init.zeros_(self.hypernet[-1].bias)
        self.register_buffer("identity_params", identity)

    def weights(self, t: Tensor) -> Tensor:
        """The generated linear maps: ``t (B, P) -> W(t) (B, D, D)``."""
        if t.dim() != 2 or t.shape[1] != self.param_dim:
            raise ValueError(f"transformation parameters must be (B, {self.param_dim}), got {tuple(t.shape)}")
        both = self.hypernet(torch.cat([t.to(self.identity_params.dtype), self.identity_params.unsqueeze(0)]))
        delta = (both[:-1] - both[-1:]).view(-1, self.dim, self.dim)  # G(t) - G(t_0)
        return torch.eye(self.dim, dtype=delta.dtype, device=delta.device) + delta

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        """``z (B, D)``, ``t (B, P)`` -> ``(B, D)``."""
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise ValueError(f"embeddings must be (B, {self.dim}), got {tuple(z.shape)}")
        if t.shape[0] != z.shape[0]:
            raise ValueError(f"{z.shape[0]} embeddings but {t.shape[0]} transformations")
        w = self.weights(t)
        return torch.bmm(w.to(z.dtype), z.unsqueeze(2)).squeeze(2)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, param_dim={self.param_dim}"
