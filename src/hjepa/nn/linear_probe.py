"""A linear probe: a fitted affine readout of a quantity (e.g. the agent's position) from features.

Used to measure what a representation carries (:mod:`hjepa.eval.probe`) and, frozen, to read
positions from world-model states while planning (region costs, drawn plans).

Closed-form ridge regression with a bias on standardised features:
``W = (X^T X + ridge * N * I)^{-1} X^T (Y - mean Y)``, with ``X`` the standardised features.
Scaling the ridge by ``N`` keeps its strength independent of the dataset size. Solving is done in
float64 so tiny ridges stay well conditioned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hjepa.errors import InputError


def check_features_targets(features: Tensor, targets: Tensor | None, name: str) -> None:
    if features.dim() != 2:
        raise InputError(f"{name} features must have shape (N, D), got {tuple(features.shape)}")
    if not torch.isfinite(features).all():
        raise InputError(f"{name} features contain NaN or inf")
    if targets is None:
        return
    if targets.dim() != 2:
        raise InputError(f"{name} targets must have shape (N, K), got {tuple(targets.shape)}")
    if targets.shape[0] != features.shape[0]:
        raise InputError(
            f"{name} features and targets disagree on N: {features.shape[0]} vs {targets.shape[0]}"
        )
    if not torch.isfinite(targets).all():
        raise InputError(f"{name} targets contain NaN or inf")


@dataclass
class LinearProbe:
    """A fitted affine map ``features (N, D) -> targets (N, K)`` (float64 internally)."""

    feature_mean: Tensor  # (D,)
    feature_std: Tensor  # (D,)
    weight: Tensor  # (D, K), acting on standardised features
    bias: Tensor  # (K,)

    def predict(self, features: Tensor) -> Tensor:
        """``features (N, D) -> predictions (N, K)`` in the dtype of ``features``."""
        check_features_targets(features, None, "predict")
        if features.shape[1] != self.weight.shape[0]:
            raise InputError(f"probe expects D={self.weight.shape[0]} features, got {features.shape[1]}")
        x = (features.double().cpu() - self.feature_mean) / self.feature_std
        out = x @ self.weight + self.bias
        return out.to(features.dtype if features.is_floating_point() else torch.float32)

    def state_dict(self) -> dict[str, Tensor]:
        """Tensors only, so a checkpoint holding it loads with ``weights_only=True``."""
        return {k: getattr(self, k).clone() for k in ("feature_mean", "feature_std", "weight", "bias")}

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> "LinearProbe":
        missing = {"feature_mean", "feature_std", "weight", "bias"} - set(state)
        if missing:
            raise InputError(f"probe state lacks {sorted(missing)}")
        return cls(**{k: state[k].double() for k in ("feature_mean", "feature_std", "weight", "bias")})


def fit_linear_probe(features: Tensor, targets: Tensor, ridge: float = 1e-3) -> LinearProbe:
    """Fit a ridge-regression probe in closed form.

    Args:
        features: ``(N, D)``.
        targets: ``(N, K)``.
        ridge: L2 penalty per sample on standardised features (``>= 0``).
    Returns:
        ``LinearProbe``. Constant features get std 1 (they carry no signal and are ignored).
    """
    check_features_targets(features, targets, "train")
    if ridge < 0:
        raise InputError(f"ridge must be >= 0, got {ridge}")
    x = features.detach().double().cpu()
    y = targets.detach().double().cpu()
    n, d = x.shape
    mean = x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    xs = (x - mean) / std
    y_mean = y.mean(dim=0)
    gram = xs.T @ xs + ridge * n * torch.eye(d, dtype=torch.float64)
    # lstsq copes with a singular gram matrix when ridge == 0.
    weight = torch.linalg.lstsq(gram, xs.T @ (y - y_mean)).solution
    return LinearProbe(feature_mean=mean, feature_std=std, weight=weight, bias=y_mean)
