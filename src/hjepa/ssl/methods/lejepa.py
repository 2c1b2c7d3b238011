"""LeJEPA: predict the mean global-view embedding from every view, regularised by SIGReg.

Balestriero & LeCun, "LeJEPA: Provable and Scalable Self-Supervised Learning Without the
Heuristics", 2025.

``V`` views of each image go through one backbone and projector, giving ``embeddings (V, B, E)``;
the first ``num_global`` views are the global ones. ``hjepa.objectives.lejepa_loss`` computes::

    loss = (1 - lambd) * mean_{v, n, d} (z[v, n, d] - mean_{g < num_global} z[g, n, d]) ** 2
           + lambd * mean_v SIGReg(z[v])

SIGReg projects the embeddings on ``num_directions`` random unit directions and compares each 1-D
projection with ``N(0, 1)``. There is no predictor, no stop-gradient, no EMA target.

Views: the global views (the first ``num_global``) must all have one shape and are encoded in a
single backbone pass; the other (local) views likewise, in a second pass. So ``V`` same-size
views of ``hjepa.ssl.views.lejepa_views`` and a multi-crop setting (smaller local views) both work.

Random directions: a fresh set is drawn at every ``forward`` unless ``directions (M, E)`` is
passed. Draw ``k`` (counted from 0 by ``self.draws``) uses a generator on the embeddings' device
seeded with ``(seed, k)``, so the directions

* depend only on the constructor's ``seed`` and the number of previous calls (not on global RNG
  state, nor on other code drawing random numbers);
* are the same on every process of a distributed run (same seed, same call count), with no
  broadcast and no copy from the host;
* survive a checkpoint: ``draws`` is saved in the state dict (``get_extra_state``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.heads import projector
from hjepa.objectives import LeJEPALoss
from hjepa.ssl.method import MethodOutput, SSLMethod, collapse_std, feature_dim

_SEED_STRIDE = 2**32  # draw k of seed s uses torch seed s * 2**32 + k: distinct for k < 2**32


class LeJEPA(SSLMethod):
    """LeJEPA with ``num_views`` views, ``num_global`` of them global.

    Args:
        backbone: images ``(B, C, H, W) -> (B, F)`` with ``out_dim = F``.
        projector_dims: projector widths; the last is ``E``.
        num_views: ``V >= 2``, views per image.
        num_global: ``1 <= num_global <= V``, how many leading views are global.
        lambd: SIGReg weight in ``[0, 1]`` (paper: 0.05).
        num_directions: ``M``, random directions per step.
        seed: ``0 <= seed < 2**31``, seeds the random directions (see the module docstring).

    ``forward(views, directions=None)`` with ``V`` tensors ``(B, C, H, W)`` -> ``MethodOutput``
    with terms ``prediction``, ``sigreg`` (unweighted) and ``std``; features ``(B, F)`` and
    embeddings ``(B, E)`` of view 0.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector_dims: Sequence[int] = (2048, 128),
        num_views: int = 4,
        num_global: int = 2,
        lambd: float = 0.05,
        num_directions: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__(backbone, num_views=num_views)
        if not 1 <= num_global <= num_views:
            raise InputError(f"num_global must be in [1, num_views={num_views}], got {num_global}")
        if not 0 <= seed < 2**31:
            raise InputError(f"seed must be in [0, 2**31), got {seed}")
        self.projector = projector(feature_dim(backbone), tuple(projector_dims))
        self.loss_fn = LeJEPALoss(num_global, lambd, num_directions)
        self.num_global = num_global
        self.seed = seed
        self.draws = 0

    def sample_directions(self, dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """The next ``(M, dim)`` Gaussian directions (not normalised), drawn on ``device``."""
        generator = torch.Generator(device=device)
        generator.manual_seed(self.seed * _SEED_STRIDE + self.draws)
        self.draws += 1
        return torch.randn(self.loss_fn.num_directions, dim, generator=generator, device=device, dtype=dtype)

    def _encode(self, group: list[Tensor], kind: str) -> tuple[Tensor, Tensor]:
        """Views of one shape, stacked: ``k`` x ``(B, C, H, W)`` -> features, embeddings ``(k * B, .)``."""
        shapes = {tuple(view.shape) for view in group}
        if len(shapes) != 1:
            raise InputError(f"LeJEPA: all {kind} views must have the same shape, got {sorted(shapes)}")
        features = self.backbone(torch.cat(group, dim=0))
        return features, self.projector(features)

    def forward(self, views: list[Tensor], directions: Tensor | None = None) -> MethodOutput:
        """``V`` views ``(B, C, H, W)`` (global ones first) and optional ``directions (M, E)``."""
        views = self.check_views(views)
        batch = views[0].shape[0]
        h_global, z_global = self._encode(views[: self.num_global], "global")
        z_parts = [z_global]
        if self.num_global < self.num_views:
            z_parts.append(self._encode(views[self.num_global :], "local")[1])
        z = torch.cat(z_parts, dim=0)  # (V * B, E), view-major
        embeddings = z.view(self.num_views, batch, z.shape[-1])  # (V, B, E)
        if directions is None:
            work_dtype = torch.promote_types(z.dtype, torch.float32)
            directions = self.sample_directions(z.shape[-1], z.device, work_dtype)
        terms = self.loss_fn(embeddings, directions=directions)
        logged = {
            "prediction": terms.prediction.detach(),
            "sigreg": terms.sigreg.detach(),
            "std": collapse_std(embeddings[0]),
        }
        return MethodOutput(terms.total, logged, h_global[:batch].detach(), embeddings[0].detach())

    def get_extra_state(self) -> dict[str, Any]:
        return {"draws": self.draws}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.draws = int(state["draws"])

    def extra_repr(self) -> str:
        return f"num_views={self.num_views}, num_global={self.num_global}, seed={self.seed}"
