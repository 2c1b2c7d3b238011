"""The world model's self-supervised training objective.

For a window of observations x[0..T] and macro-actions a[0..T-1]:

    s[t]      = Enc(x[t])                                   targets, (B, T+1, D)
    ŝ[0]      = s[0];  ŝ[t+1] = Pred(ŝ[t], a[t])            autoregressive rollout
    L = w_pred * mean_t ||ŝ[t] - s[t]||²                    prediction in representation space
      + w_var * variance(s) + w_cov * covariance(s)         VICReg regulariser (no collapse)
      + w_smooth * ||s[t+1] - s[t]||²                        temporal smoothness (optional)
      + w_idm * ||IDM(s[t], s[t+1]) - a[t]||²                inverse dynamics (optional)
      + w_sig * SIGReg(s)                                    LeWM's regulariser (optional, off by default)

The regulariser is what keeps the joint embedding from collapsing: without it, a constant encoder
predicts itself perfectly. Inverse dynamics forces the state to carry what the action changes
(the agent's position); without it the encoder may encode only the layout, which is constant
within an episode and therefore trivially predictable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hjepa.errors import InputError
from hjepa.objectives.sigreg import sigreg_loss
from hjepa.objectives.temporal import InverseDynamics, inverse_dynamics_loss, temporal_smoothness
from hjepa.objectives.vicreg import covariance_loss, variance_loss
from hjepa.world.model import JEPAWorldModel


@dataclass(frozen=True)
class WorldModelLossWeights:
    """Weight of each term of the world-model objective (0 switches a term off)."""

    prediction: float = 1.0
    """Multi-step prediction error in representation space."""
    variance: float = 25.0
    """VICReg variance hinge on the per-dimension std of the states."""
    covariance: float = 1.0
    """VICReg off-diagonal covariance penalty of the states."""
    smoothness: float = 0.02
    """Squared distance between consecutive states (summed over D)."""
    inverse_dynamics: float = 10.0
    """Error of predicting the action from consecutive states."""
    sigreg: float = 0.0
    """SIGReg (LeJEPA's Gaussianity test of random 1-D projections) on the states: LeWM's only
    anti-collapse term. Computed only when > 0 (directions drawn from the training generator)."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value >= 0.0:
                raise InputError(f"loss weight {name} must be >= 0, got {value}")


def world_model_loss(
    model: JEPAWorldModel,
    inverse_dynamics: InverseDynamics | None,
    obs: torch.Tensor,
    actions: torch.Tensor,
    weights: WorldModelLossWeights,
    bf16: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its named terms for a batch of windows.

    Args:
        obs: (B, T+1, C, H, W) observations (already at the encoder's resolution or raw).
        actions: (B, T, A) macro-actions.
        bf16: run the encoder under bfloat16 autocast (fast on CPUs with AVX512-BF16/AMX).
        generator: draws SIGReg's random directions (only used when ``weights.sigreg > 0``).

    Returns:
        total (scalar tensor with grad) and a dict of detached scalar terms.
    """
    if obs.dim() != 5 or actions.dim() != 3 or obs.shape[:2] != (actions.shape[0], actions.shape[1] + 1):
        raise InputError(
            f"expected obs (B, T+1, C, H, W) and actions (B, T, A); got {tuple(obs.shape)} and {tuple(actions.shape)}"
        )
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        states = model.encode(obs)
    states = states.float()  # (B, T+1, D)
    predicted = model.rollout(states[:, 0], actions)  # (B, T+1, D)
    terms: dict[str, torch.Tensor] = {}
    terms["prediction"] = (predicted[:, 1:] - states[:, 1:]).pow(2).mean()
    flat = states.reshape(-1, states.shape[-1])
    terms["variance"] = variance_loss(flat)
    terms["covariance"] = covariance_loss(flat)
    terms["smoothness"] = temporal_smoothness(states)
    if inverse_dynamics is not None:
        terms["inverse_dynamics"] = inverse_dynamics_loss(inverse_dynamics, states, actions)
    if weights.sigreg > 0:
        terms["sigreg"] = sigreg_loss(flat, generator=generator)
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    return total, {name: value.detach() for name, value in terms.items()}
