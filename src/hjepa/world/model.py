"""The JEPA world model: perception (encoder) plus an action-conditioned predictor."""

from __future__ import annotations

import torch
from torch import nn

from hjepa.errors import InputError


class JEPAWorldModel(nn.Module):
    """Encode observations into states and predict states forward under actions.

    The world model never sees pixels of the future: it predicts the *representation* of the next
    observation (Joint-Embedding Predictive Architecture), which lets it drop unpredictable detail.

    Args:
        encoder: obs (B, C, H, W) -> state (B, D).
        predictor: (state (B, D), action (B, A)) -> next state (B, D).
        obs_pool: average-pool factor applied to raw observations before the encoder
            (2 turns 64x64 frames into 32x32 exactly; 1 keeps them).

    Example:
        >>> s0 = model.encode(obs)                  # (B, D)
        >>> states = model.rollout(s0, actions)     # actions (B, T, A) -> (B, T+1, D)
    """

    def __init__(self, encoder: nn.Module, predictor: nn.Module, obs_pool: int = 1) -> None:
        super().__init__()
        self.encoder = encoder
        self.predictor = predictor
        self.obs_pool = obs_pool

    @property
    def state_dim(self) -> int:
        return self.predictor.state_dim

    @property
    def action_dim(self) -> int:
        return self.predictor.action_dim

    def preprocess(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations (B, C, H, W) -> encoder input (B, C, H/p, W/p)."""
        if self.obs_pool > 1:
            obs = nn.functional.avg_pool2d(obs, self.obs_pool)
        return obs

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (B, C, H, W) or (B, T, C, H, W) -> states (B, D) or (B, T, D).

        Observations whose size already matches the encoder's input are not pooled again.
        """
        size = getattr(self.encoder, "input_size", None)
        channels = getattr(self.encoder, "in_channels", None)
        if (
            obs.dim() not in (4, 5)
            or (channels is not None and obs.shape[-3] != channels)
            or (size is not None and obs.shape[-1] not in (size, size * self.obs_pool))
            or obs.shape[-1] != obs.shape[-2]
        ):
            expect = "C, H, W" if size is None else f"{channels}, {size * self.obs_pool}, {size * self.obs_pool}"
            raise InputError(f"encode expects obs (B, {expect}) or (B, T, {expect}), got {tuple(obs.shape)}")
        lead = obs.shape[:-3]
        flat = obs.reshape(-1, *obs.shape[-3:])
        if flat.shape[-1] != getattr(self.encoder, "input_size", flat.shape[-1]):
            flat = self.preprocess(flat)
        return self.encoder(flat).reshape(*lead, -1)

    def step(self, state: torch.Tensor, action: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """state (..., D), action (..., A) -> next state (..., D). ``z`` is reserved for latent variables."""
        if z is not None:
            raise NotImplementedError("this predictor has no latent variable")
        return self.predictor(state, action)

    def rollout(self, s0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Autoregressive prediction: s0 (B, D), actions (B, T, A) -> states (B, T+1, D)."""
        if actions.dim() != 3 or actions.shape[0] != s0.shape[0]:
            raise InputError(f"actions must be (B, T, A) with B={s0.shape[0]}, got {tuple(actions.shape)}")
        states = [s0]
        for t in range(actions.shape[1]):
            states.append(self.step(states[-1], actions[:, t]))
        return torch.stack(states, dim=1)
