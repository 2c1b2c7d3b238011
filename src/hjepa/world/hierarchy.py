"""Level 2 of the hierarchical JEPA world model: a more abstract state, a longer time scale and a
learned latent macro-action.

Level 1 (a Two Rooms-style :class:`~hjepa.world.model.JEPAWorldModel`) predicts its state ``s1``
one step (``frameskip`` environment steps) ahead. Level 2 works on

- an abstract state ``s2 = Abs(s1)``, a learned projection to fewer dimensions (``D2 < D1``);
- a time scale of ``k`` level-1 steps: ``s2[t + k] = Pred2(s2[t], u[t], z)``;
- a macro-action ``u = Enc_a(a[t], ..., a[t+k-1])``: the ``k`` level-1 actions encoded into a few
  (``U``) dimensions by a noisy encoder (mean and log-variance; ``u = mean + std * eps`` in
  training), penalised by ``KL(q(u | a) || N(0, I))`` so it carries little information: only as
  much as the level-2 prediction needs. At planning time macro-actions are searched in the space
  of that ``N(0, I)`` prior; the level-1 actions that realise one are found by level-1 planning
  towards the subgoal it leads to (:mod:`hjepa.planning.hierarchical`);
- an optional latent ``z`` (:mod:`hjepa.world.latent`) for what the state does not determine.

Shapes: ``s1 (..., D1)``, ``s2 (..., D2)``, level-1 actions of one macro step ``(..., k * A1)``
(``A1`` = level-1 macro-action size, ``2 * frameskip``), ``u (..., U)``, ``z (..., Z)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hjepa.errors import InputError
from hjepa.nn.mlp import mlp
from hjepa.world.latent import LatentPredictor


class MacroActionEncoder(nn.Module):
    """``k`` level-1 actions (..., k * A1) -> Gaussian over the macro-action: mean, log-variance (..., U)."""

    def __init__(self, in_dim: int, hidden: int, latent_action_dim: int) -> None:
        super().__init__()
        self.in_dim, self.latent_action_dim = in_dim, latent_action_dim
        self.net = mlp(in_dim, hidden, 2 * latent_action_dim, 2)

    def forward(self, actions: Tensor) -> tuple[Tensor, Tensor]:
        if actions.shape[-1] != self.in_dim:
            raise InputError(f"macro-action encoder takes {self.in_dim}-dim action sequences, got {actions.shape[-1]}")
        mean, log_var = self.net(actions).chunk(2, dim=-1)
        return mean, log_var.clamp(-8.0, 4.0)


def kl_to_standard_normal(mean: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(mean, exp(log_var)) || N(0, I))`` summed over the last dim: (..., U) -> (...)."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


class HighLevelModel(nn.Module):
    """Level 2: abstraction, macro-action encoder and predictor (with optional latent z).

    Args:
        low_state_dim: ``D1``, the level-1 state size.
        state_dim: ``D2``, the level-2 state size.
        macro_steps: ``k``, level-1 steps per level-2 step (``>= 1``).
        low_action_dim: ``A1``, the size of one level-1 action (``2 * frameskip``).
        latent_action_dim: ``U``, the macro-action size.
        latent_dim: ``Z``, the size of the latent variable (0: none).
        hidden, layers: width and depth of the predictor (the action encoder has 2 layers).
        abstraction_layers: 1 = a linear projection of ``s1``; more = an MLP.

    Example:
        >>> high = HighLevelModel(64, 16, macro_steps=4, low_action_dim=8, latent_action_dim=2, latent_dim=0,
        ...                       hidden=128, layers=3)
        >>> s2 = high.abstract(torch.zeros(5, 64))                     # (5, 16)
        >>> mean, log_var = high.encode_actions(torch.zeros(5, 3, 32))  # (5, 3, 2) each
        >>> high.rollout(s2, mean).shape                               # (5, 4, 16)
        torch.Size([5, 4, 16])
    """

    def __init__(
        self,
        low_state_dim: int,
        state_dim: int,
        macro_steps: int,
        low_action_dim: int,
        latent_action_dim: int,
        latent_dim: int,
        hidden: int,
        layers: int,
        abstraction_layers: int = 1,
    ) -> None:
        super().__init__()
        if isinstance(macro_steps, bool) or not isinstance(macro_steps, int) or macro_steps < 1:
            raise InputError(f"macro_steps (k, level-1 steps per level-2 step) must be an int >= 1, got {macro_steps!r}")
        for name, value in (("low_state_dim", low_state_dim), ("state_dim", state_dim), ("low_action_dim", low_action_dim),
                            ("latent_action_dim", latent_action_dim), ("abstraction_layers", abstraction_layers)):
            if value < 1:
                raise InputError(f"{name} must be >= 1, got {value}")
        self.low_state_dim, self.state_dim = low_state_dim, state_dim
        self.macro_steps, self.low_action_dim = macro_steps, low_action_dim
        self.latent_action_dim, self.latent_dim = latent_action_dim, latent_dim
        self._sizes = {"hidden": hidden, "layers": layers, "abstraction_layers": abstraction_layers}
        self.abstraction = mlp(low_state_dim, hidden, state_dim, abstraction_layers)
        self.action_encoder = MacroActionEncoder(macro_steps * low_action_dim, hidden, latent_action_dim)
        self.predictor = LatentPredictor(state_dim, latent_action_dim, latent_dim, hidden, layers)
        # Training only: a linear read-out of s1 from s2, so the abstraction keeps the main content
        # of the level-1 state (where the agent is) rather than only what is easiest to predict.
        self.readout = nn.Linear(state_dim, low_state_dim)

    @property
    def z_scale(self) -> Tensor:
        """(Z,) std of the prior over z."""
        return self.predictor.z_scale

    def abstract(self, low_state: Tensor) -> Tensor:
        """``s1 (..., D1) -> s2 (..., D2)``."""
        if low_state.shape[-1] != self.low_state_dim:
            raise InputError(
                f"level-1 state has {low_state.shape[-1]} dims but level 2 was built for {self.low_state_dim}"
            )
        return self.abstraction(low_state)

    def encode_actions(self, low_actions: Tensor) -> tuple[Tensor, Tensor]:
        """``k`` level-1 actions per macro step (..., k * A1) -> mean, log-variance (..., U)."""
        return self.action_encoder(low_actions)

    def step(self, state: Tensor, macro_action: Tensor, z: Tensor | None = None) -> Tensor:
        """``s2 (..., D2), u (..., U), z (..., Z) or None -> s2 k level-1 steps later (..., D2)``."""
        return self.predictor(state, macro_action, z)

    def rollout(self, s0: Tensor, macro_actions: Tensor, z: Tensor | None = None) -> Tensor:
        """``s0 (B, D2), u (B, T, U), z (B, Z) or None`` (held over the window) -> ``(B, T+1, D2)``."""
        if macro_actions.dim() != 3 or macro_actions.shape[0] != s0.shape[0]:
            raise InputError(f"macro_actions must be (B, T, U) with B={s0.shape[0]}, got {tuple(macro_actions.shape)}")
        states = [s0]
        for t in range(macro_actions.shape[1]):
            states.append(self.step(states[-1], macro_actions[:, t], z))
        return torch.stack(states, dim=1)

    @torch.no_grad()
    def held_direction_actions(self, speeds: tuple[float, ...], directions: int = 8) -> Tensor:
        """A vocabulary of macro-actions (len(speeds) * directions, U): the encoder means of
        holding each of ``directions`` headings at each speed for the whole macro step, the
        discrete action set a search planner uses at level 2."""
        if directions < 2 or not speeds or min(speeds) <= 0:
            raise InputError(f"need directions >= 2 and positive speeds, got {directions}, {speeds}")
        angle = torch.arange(directions, dtype=torch.float32) * (2 * torch.pi / directions)
        unit = torch.stack([angle.cos(), angle.sin()], -1)  # (K, 2)
        held = torch.cat([speed * unit for speed in speeds])  # (K * len(speeds), 2)
        steps = self.macro_steps * self.low_action_dim // 2
        device = next(self.parameters()).device
        return self.encode_actions(held.repeat(1, steps).to(device))[0]

    def config(self) -> dict:
        """Constructor arguments (for checkpoints)."""
        return {
            "low_state_dim": self.low_state_dim, "state_dim": self.state_dim, "macro_steps": self.macro_steps,
            "low_action_dim": self.low_action_dim, "latent_action_dim": self.latent_action_dim,
            "latent_dim": self.latent_dim, **self._sizes,
        }
