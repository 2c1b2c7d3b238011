"""Training level 2 on the same reward-free data as level 1 (whose encoder is frozen by then).

For a window of ``T`` level-2 steps (``T * k`` level-1 steps, ``T * k * frameskip`` environment
steps), with level-1 states ``s1[0..T]`` encoded at the level-2 boundaries and the level-1 actions
of each macro step ``a[t]`` (``k * A1`` numbers):

    s2[t]  = Abs(s1[t])                                       (B, T+1, D2)
    u[t]   = mean(a[t]) + std(a[t]) * eps                     noisy macro-action, (B, T, U)
    z      = argmin_z sum_t ||Pred2^t(s2[0], u, z) - s2[t]||^2 + lambda ||z||^2   (when Z > 0)
    L = w_pred * mean_t ||ŝ2[t] - s2[t]||^2                   multi-step prediction (rollout)
      + w_var * variance(s2) + w_cov * covariance(s2)         VICReg: no collapse of the abstraction
      + w_kl * KL(q(u | a) || N(0, I))                         the macro-action carries little information
      + w_read * ||W s2[t] + b - s1[t]||^2                      s2 keeps the main content of s1 (linear read-out)

Without the read-out term the projection is free to keep only the most predictable directions of
``s1`` (measured: a linear probe of the agent's position from ``s2`` was off by 9.5 px, against
1.8 px from ``s1``), and subgoals become too vague to lead through 6-px doors.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from hjepa.errors import InputError, NonFiniteLoss
from hjepa.objectives.vicreg import covariance_loss, variance_loss
from hjepa.runs.progress import progress
from hjepa.runs.run_dir import RunDir
from hjepa.world.hierarchy import HighLevelModel, kl_to_standard_normal
from hjepa.world.latent import infer_latent
from hjepa.world.model import JEPAWorldModel


@dataclass(frozen=True)
class HighLevelLossWeights:
    """Weight of each term of the level-2 objective."""

    prediction: float = 1.0
    """Multi-step prediction error of the level-2 state."""
    variance: float = 25.0
    """VICReg variance hinge on the level-2 states."""
    covariance: float = 1.0
    """VICReg covariance penalty on the level-2 states."""
    kl: float = 0.002
    """KL of the noisy macro-action to N(0, I) (its information content, nats per macro step).
    Measured on the maze (s2 of 32 dims): 0.002 leaves about 6 nats per macro step; with 64 dims
    and 0.02 the macro-action collapsed to 0.07 nats (level 2 ignored it)."""
    readout: float = 1.0
    """Error of the linear read-out of the level-1 state from the level-2 state."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value >= 0.0:
                raise InputError(f"level-2 loss weight {name} must be >= 0, got {value}")


@dataclass(frozen=True)
class HighLevelTrainConfig:
    """Optimisation of level 2 (and inference of its latent z)."""

    steps: int = 1500
    """Gradient steps."""
    batch_size: int = 128
    """Windows per step."""
    window: int = 4
    """Level-2 steps per window."""
    lr: float = 2e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to 5%)."""
    warmup_steps: int = 100
    """Warm-up steps."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    z_steps: int = 8
    """Gradient steps inferring z per window (models with a latent only)."""
    z_lr: float = 0.3
    """Step size of z inference."""
    z_penalty: float = 0.05
    """lambda of the information penalty lambda ||z||^2."""
    log_every: int = 50
    """Log the loss terms every this many steps."""
    checkpoint_every: int = 500
    """Save the training state every this many steps (``--resume`` continues from it)."""

    def __post_init__(self) -> None:
        # Named as the maze command's options (--level2-train.NAME).
        for name in ("steps", "batch_size", "window", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InputError(f"level2_train.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("z_steps", "warmup_steps"):
            if getattr(self, name) < 0:
                raise InputError(f"level2_train.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lr", "z_lr"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise InputError(f"level2_train.{name} must be a positive finite number, got {getattr(self, name)}")
        for name in ("weight_decay", "z_penalty"):
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                raise InputError(f"level2_train.{name} must be a finite number >= 0, got {getattr(self, name)}")


def prediction_energy(high: HighLevelModel, s2: Tensor, u: Tensor, z: Tensor | None) -> Tensor:
    """Per-window energy (B,): ``sum_t mean_d (rollout(s2[:, 0], u, z)[:, t] - s2[:, t])^2``."""
    predicted = high.rollout(s2[:, 0], u, z)
    return (predicted[:, 1:] - s2[:, 1:]).pow(2).mean(-1).sum(-1)


def high_level_loss(
    high: HighLevelModel,
    low_states: Tensor,
    low_actions: Tensor,
    weights: HighLevelLossWeights,
    config: HighLevelTrainConfig,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor], Tensor | None]:
    """Total loss, its named terms and the inferred z (or None) for one batch.

    Args:
        low_states: level-1 states at the level-2 boundaries, (B, T+1, D1) (no grad needed).
        low_actions: level-1 actions of each macro step, (B, T, k * A1).
    """
    if low_states.dim() != 3 or low_actions.dim() != 3 or low_states.shape[:2] != (low_actions.shape[0], low_actions.shape[1] + 1):
        raise InputError(f"expected low_states (B, T+1, D1) and low_actions (B, T, k*A1); got "
                         f"{tuple(low_states.shape)} and {tuple(low_actions.shape)}")
    s2 = high.abstract(low_states)  # (B, T+1, D2)
    mean, log_var = high.encode_actions(low_actions)  # (B, T, U)
    eps = torch.randn(mean.shape, generator=generator).to(mean)
    u = mean + (0.5 * log_var).exp() * eps
    z = None
    if high.latent_dim:
        s2_fixed, u_fixed = s2.detach(), u.detach()
        z, _ = infer_latent(
            lambda zz: prediction_energy(high, s2_fixed, u_fixed, zz), s2.shape[0], high.latent_dim,
            config.z_steps, config.z_lr, config.z_penalty, like=s2,
        )
    predicted = high.rollout(s2[:, 0], u, z)
    terms = {
        "prediction": (predicted[:, 1:] - s2[:, 1:]).pow(2).mean(),
        "variance": variance_loss(s2.reshape(-1, s2.shape[-1])),
        "covariance": covariance_loss(s2.reshape(-1, s2.shape[-1])),
        "kl": kl_to_standard_normal(mean, log_var).mean(),
        "readout": (high.readout(s2) - low_states.detach()).pow(2).mean(),
    }
    total = sum(getattr(weights, name) * value for name, value in terms.items())
    return total, {k: v.detach() for k, v in terms.items()}, z


@dataclass
class HighLevelTrainResult:
    diagnostics: dict[str, float]
    seconds: float
    steps: int


def train_high_level(
    high: HighLevelModel,
    low_model: JEPAWorldModel,
    train_windows,
    weights: HighLevelLossWeights,
    config: HighLevelTrainConfig,
    generator: torch.Generator,
    diagnose: Callable[[HighLevelModel, torch.Generator], dict[str, float]] | None = None,
    run: RunDir | None = None,
    show_progress: bool = True,
    checkpoint: Callable[[dict], None] | None = None,
    resume: dict | None = None,
) -> HighLevelTrainResult:
    """Train ``high`` in place on windows whose frameskip is ``k * frameskip`` of level 1, with the
    level-1 encoder frozen. Sets ``high.z_scale`` to the std of the inferred z (moving average).
    ``diagnose(high, generator)`` runs once at the end (e.g.
    :func:`hjepa.eval.world_diagnostics.high_level_diagnostics` on held-out windows).

    ``checkpoint(state)`` and ``resume``: as :func:`hjepa.world.train.train_world_model` (the state
    also holds the running std of z).

    Raises ``NonFiniteLoss`` naming the step and terms if the loss is not finite.
    """
    k_frames = train_windows.frameskip
    if train_windows.action_dim != high.macro_steps * high.low_action_dim:
        raise InputError(
            f"windows hold {train_windows.action_dim} action numbers per level-2 step (frameskip {k_frames}), but "
            f"level 2 takes k={high.macro_steps} level-1 actions of {high.low_action_dim}"
        )
    low_model.eval()
    optimizer = torch.optim.AdamW(high.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    eval_generator = torch.Generator()
    first, z_std = 0, None
    if resume is None:
        eval_generator.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
    else:
        high.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        eval_generator.set_state(resume["eval_generator"])
        first, z_std = int(resume["step"]), resume["z_std"]
    high.train()
    start = time.perf_counter()
    for step in progress(range(first, config.steps), desc="train level 2", enabled=show_progress, initial=first,
                         total=config.steps):
        warm = min(1.0, (step + 1) / max(1, config.warmup_steps))
        cosine = 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * step / max(1, config.steps - 1)))
        for group in optimizer.param_groups:
            group["lr"] = config.lr * warm * cosine
        batch = train_windows.sample(config.batch_size, generator)
        with torch.no_grad():
            low_states = low_model.encode(batch.obs).float()
        loss, terms, z = high_level_loss(high, low_states, batch.actions, weights, config, generator)
        if not torch.isfinite(loss):
            detail = ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
            raise NonFiniteLoss(f"level-2 loss is not finite at step {step} ({detail}); lower level2_train.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(high.parameters(), 5.0)
        optimizer.step()
        if z is not None:
            batch_std = z.std(0).clamp_min(1e-3)
            z_std = batch_std if z_std is None else 0.95 * z_std + 0.05 * batch_std
            high.predictor.z_scale.copy_(z_std)
            terms["z_norm"] = z.norm(dim=-1).mean()
        if run is not None and (step % config.log_every == 0 or step == config.steps - 1):
            record = {f"level2/{k}": float(v) for k, v in terms.items()}
            record["level2/total"] = float(loss.detach())
            run.log(record, step=step)
        if checkpoint is not None and (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            checkpoint({"step": step + 1, "model": high.state_dict(), "optimizer": optimizer.state_dict(),
                        "eval_generator": eval_generator.get_state(), "z_std": z_std})
    high.eval()
    diagnostics = diagnose(high, eval_generator) if diagnose is not None else {}
    if run is not None and diagnostics:
        run.log({f"eval/{k}": v for k, v in diagnostics.items()}, step=config.steps - 1)
    return HighLevelTrainResult(diagnostics, time.perf_counter() - start, config.steps)
