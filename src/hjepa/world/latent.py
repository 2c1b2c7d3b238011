"""The latent variable z: what the observation does not determine.

A deterministic predictor trained on an uncertain outcome (a door that is open in some episodes
and closed in others, while it looks the same) predicts the average of the outcomes, a state that
never happens. LeCun's world model instead takes a latent ``z``: ``s' = Pred(s, a, z)``, an
energy-based model whose free energy is ``F(s, a, s') = min_z E(s, a, s', z)`` with
``E = ||Pred(s, a, z) - s'||^2 + lambda ||z||^2``.

- **Training**: for each window ``z`` is *inferred* by a few gradient steps on the prediction energy
  (:func:`infer_latent`, the predictor's weights held fixed), then the predictor learns with that
  ``z``. The penalty ``lambda ||z||^2`` and a low dimension limit how much information ``z`` can
  carry, so it takes only what the state and action leave open instead of copying the target.
- **Planning**: ``z`` is drawn from the prior that the penalty stands for, a zero-mean Gaussian
  whose scale (:attr:`LatentPredictor.z_scale`) is measured on the inferred ``z`` of the training
  data (:func:`sample_prior`); a plan is scored by its expected or worst-case cost over the draws
  (:mod:`hjepa.planning.latent`). ``z = 0`` (the prior's mean) is what a planner that ignores the
  latent uses.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.mlp import mlp


class LatentPredictor(nn.Module):
    """``s' = s + f([s, a, z])`` with an MLP ``f``; ``z`` optional (None = 0, the prior mean).

    Shapes: state (..., D), action (..., A), z (..., Z) -> next state (..., D). ``latent_dim = 0``
    gives a deterministic predictor (then ``z`` must be None).

    Attributes:
        z_scale: buffer (Z,), per-dimension std of the prior over z (set from inferred z's).
    """

    def __init__(self, state_dim: int, action_dim: int, latent_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        for name, value in (("state_dim", state_dim), ("action_dim", action_dim), ("hidden", hidden), ("layers", layers)):
            if value < 1:
                raise InputError(f"{name} must be >= 1, got {value}")
        if latent_dim < 0:
            raise InputError(f"latent_dim must be >= 0, got {latent_dim}")
        self.state_dim, self.action_dim, self.latent_dim = state_dim, action_dim, latent_dim
        self.net = mlp(state_dim + action_dim + latent_dim, hidden, state_dim, layers)
        self.register_buffer("z_scale", torch.ones(latent_dim))

    def forward(self, state: Tensor, action: Tensor, z: Tensor | None = None) -> Tensor:
        if state.shape[-1] != self.state_dim:
            raise InputError(f"state has {state.shape[-1]} dims, the predictor takes {self.state_dim}")
        if action.shape[-1] != self.action_dim:
            raise InputError(f"action has {action.shape[-1]} dims, the predictor takes {self.action_dim}")
        parts = [state, action]
        if self.latent_dim:
            if z is None:
                z = state.new_zeros(*state.shape[:-1], self.latent_dim)
            elif z.shape[-1] != self.latent_dim:
                raise InputError(f"z has {z.shape[-1]} dims, the predictor's latent has {self.latent_dim}")
            parts.append(z.expand(*state.shape[:-1], self.latent_dim))
        elif z is not None and z.shape[-1] != 0:
            raise InputError(f"this predictor has no latent variable (latent_dim 0), got z with {z.shape[-1]} dims")
        return state + self.net(torch.cat(parts, dim=-1))


def infer_latent(
    energy: Callable[[Tensor], Tensor],
    batch: int,
    latent_dim: int,
    steps: int = 10,
    lr: float = 0.3,
    penalty: float = 0.1,
    like: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``z* ~ argmin_z energy(z) + penalty ||z||^2`` per row, by ``steps`` Adam steps from ``z = 0``.

    Args:
        energy: ``z (B, Z) -> (B,)`` prediction energy of each row (rows independent).
        batch, latent_dim: ``B`` and ``Z``.
        steps: gradient steps (0 returns z = 0).
        lr: Adam step size (in units of z: each step moves z by about ``lr`` at most).
        penalty: ``lambda`` of the information penalty ``lambda ||z||^2``.
        like: tensor whose device/dtype z takes.

    Returns:
        ``z`` (B, Z) detached: for each row the lowest-objective iterate seen (so never worse than
        ``z = 0``), and the objective history ``(steps + 1, B)`` (``energy + penalty ||z||^2``).

    Only ``z`` is differentiated (``torch.autograd.grad`` with respect to it alone): no gradient
    lands on the predictor's parameters.
    """
    if steps < 0 or latent_dim < 1 or not lr > 0 or not penalty >= 0:
        raise InputError(f"need steps >= 0, latent_dim >= 1, lr > 0, penalty >= 0; got {steps}, {latent_dim}, {lr}, {penalty}")
    kwargs = {} if like is None else {"device": like.device, "dtype": like.dtype}
    z = torch.zeros(batch, latent_dim, **kwargs)
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    best_z, best_obj = z.clone(), None
    history = []
    with torch.enable_grad():
        for t in range(steps + 1):
            z_var = z.detach().requires_grad_(True)
            obj = energy(z_var) + penalty * z_var.pow(2).sum(-1)  # (B,)
            if obj.shape != (batch,):
                raise InputError(f"energy must return ({batch},), got {tuple(obj.shape)}")
            obj_d = obj.detach()
            history.append(obj_d)
            if best_obj is None:
                best_obj = obj_d.clone()
            else:
                better = obj_d < best_obj
                best_obj = torch.where(better, obj_d, best_obj)
                best_z = torch.where(better.unsqueeze(-1), z.detach(), best_z)
            if t == steps:
                break
            (grad,) = torch.autograd.grad(obj.sum(), z_var)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad.pow(2)
            m_hat, v_hat = m / (1 - beta1 ** (t + 1)), v / (1 - beta2 ** (t + 1))
            z = z.detach() - lr * m_hat / (v_hat.sqrt() + eps)
    return best_z.detach(), torch.stack(history)


def sample_prior(n: int, scale: Tensor, generator: torch.Generator | None = None, include_mean: bool = True) -> Tensor:
    """``n`` draws (n, Z) from ``N(0, diag(scale^2))``; with ``include_mean`` draw 0 is ``z = 0``."""
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    if scale.dim() != 1 or not bool((scale >= 0).all()):
        raise InputError(f"scale must be a (Z,) tensor of non-negative stds, got {tuple(scale.shape)}")
    z = torch.randn(n, scale.shape[0], generator=generator) * scale.cpu()
    if include_mean:
        z[0] = 0.0
    return z.to(scale.device)
