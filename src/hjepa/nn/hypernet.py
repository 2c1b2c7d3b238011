"""A transformation-conditioned predictor whose weights come from a hypernetwork (SIE's predictor).

Garrido, Najman & LeCun, "Self-supervised learning of Split Invariant Equivariant
representations", ICML 2023: the predictor that maps the equivariant embedding of one view to
that of the other is a *linear map generated from the transformation's parameters*,
``z' = W(t) z``. Conditioning only through the weights means the predictor cannot ignore ``z``
and output a function of ``t`` alone, and a linear action of the transformation on the latent
space is what "equivariant" asks for.

The hypernetwork here is the paper's linear one, without bias::

    W(t) = sum_i t_i A_i          (A_i: D x D, one per transformation parameter)

which is what keeps the equivariant part from *collapsing to invariance*: an embedding that does
not change (``z_b = z_a``) is only predicted if ``W(t) = I`` for every transformation, and a map
linear in ``t`` cannot be constant on a set of ``t`` that spans ``R^P`` (``W(t) = I`` at ``t`` and
at ``2 t`` already contradict). A best fit leaves a residual set by how much the parameters vary:
for SIE's views (``hjepa.ssl.transform_views``: relative rotations of up to +-180 degrees encoded at
frequencies 1 and 2, hue shifts over the whole circle) it is 59% of ``|z|^2``. (With views rotated
by at most 45 degrees and the angle at frequency 1 only, the first version, it was 6.6%: ``cos`` of
a relative angle within +-90 degrees is nearly constant.) So the prediction loss is only driven to
0 by embeddings that move with the transformation. (A predictor built as ``I + G(t) - G(t_0)`` with
an MLP ``G`` whose last layer starts at 0, this module's first version, is the identity for every
``t`` at initialisation: an invariant equivariant part then satisfies it exactly, and on
``rotated-digits`` that is what training found within a hundred steps, the predictor never
leaving the identity.)

``affine=True`` adds a constant map, ``W(t) = A_0 + sum_i t_i A_i``: the predictor fitted on the
frozen features of *any* encoder for the retrieval read-out, where invariant features must be
carried over unchanged (``A_0 = I``, ``A_i = 0`` at initialisation: the identity for every ``t``).

Initialisation without ``affine`` (this library's choice; the paper keeps PyTorch's default):
``A_i = t0_i / |t0|^2 I`` for the parameters ``t0`` of the identity transformation, so
``W(t0) = I`` exactly and ``W(t) = (t . t0) / |t0|^2 I`` for every ``t``: an embedding starts as
its own prediction under the identity, and a transformation scales it down until the maps learn
its action. Random maps start the prediction error at several times the embedding's norm (for
``D = 64``, ``|W(t) z|`` is about 6 ``|z|``), which the encoder first answers by shrinking ``z``.

Example::

    >>> predictor = HyperPredictor(dim=3, param_dim=2, identity_params=(1.0, 0.0))
    >>> z = torch.randn(4, 3)
    >>> bool(torch.allclose(predictor(z, torch.tensor([[1.0, 0.0]] * 4)), z))
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hjepa.errors import InputError


class HyperPredictor(nn.Module):
    """``z (B, D), t (B, P) -> W(t) z (B, D)`` with ``W(t) = [A_0 +] sum_i t_i A_i``.

    Args:
        dim: embedding size ``D``.
        param_dim: transformation parameter size ``P``.
        identity_params: ``t0``, the ``P`` parameters of the identity transformation (not all zero);
            the maps start with ``W(t0) = I``. Required unless ``affine``.
        affine: add the constant map ``A_0`` (starts at ``I``, the other maps at 0).

    Attributes:
        maps: ``(P, D, D)`` parameter, ``A_1 .. A_P`` (and ``A_0`` first when ``affine``:
            ``(P + 1, D, D)``).
    """

    def __init__(self, dim: int, param_dim: int, identity_params: Sequence[float] | None = None,
                 affine: bool = False) -> None:
        super().__init__()
        if dim < 1 or param_dim < 1:
            raise InputError(f"dim and param_dim must be >= 1, got {dim}, {param_dim}")
        eye = torch.eye(dim)
        if affine:
            maps = torch.cat([eye.unsqueeze(0), torch.zeros(param_dim, dim, dim)])
        else:
            if identity_params is None:
                raise InputError("identity_params are needed to start W(identity) = I (or pass affine=True)")
            identity = torch.as_tensor(list(identity_params), dtype=torch.float32)
            if identity.shape != (param_dim,) or not torch.isfinite(identity).all() or not identity.any():
                raise InputError(f"identity_params must be {param_dim} finite numbers, not all zero, got "
                                 f"{list(identity_params)}")
            maps = (identity / identity.pow(2).sum()).view(-1, 1, 1) * eye  # W(t0) = I
        self.maps = nn.Parameter(maps)
        self.dim, self.param_dim, self.affine = dim, param_dim, affine

    def _coefficients(self, t: Tensor) -> Tensor:
        """``t (B, P)`` -> the coefficient of each map ``(B, P [+ 1])``."""
        if t.dim() != 2 or t.shape[1] != self.param_dim:
            raise InputError(f"transformation parameters must be (B, {self.param_dim}), got {tuple(t.shape)}")
        t = t.to(self.maps.dtype)
        return torch.cat([t.new_ones(t.shape[0], 1), t], dim=1) if self.affine else t

    def weights(self, t: Tensor) -> Tensor:
        """The generated linear maps: ``t (B, P) -> W(t) (B, D, D)``."""
        return torch.einsum("bp,pij->bij", self._coefficients(t), self.maps)

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        """``z (B, D)``, ``t (B, P)`` -> ``(B, D)``."""
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise InputError(f"embeddings must be (B, {self.dim}), got {tuple(z.shape)}")
        if t.shape[0] != z.shape[0]:
            raise InputError(f"{z.shape[0]} embeddings but {t.shape[0]} transformations")
        mapped = torch.einsum("pij,bj->bpi", self.maps, z.to(self.maps.dtype))  # (B, P [+ 1], D): A_i z
        return torch.einsum("bp,bpi->bi", self._coefficients(t), mapped).to(z.dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, param_dim={self.param_dim}, affine={self.affine}"
