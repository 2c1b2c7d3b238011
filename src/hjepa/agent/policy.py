"""The Mode-1 actor: a goal-conditioned policy ``a = A(s, g)``, and how it is fitted and used.

Mode-1 is reactive: one forward pass of a small MLP per decision, instead of Mode-2's search over
action sequences through the world model. The policy is trained by amortised inference — it
regresses the actions that Mode-2 planning chose (:func:`fit_policy`, driven by the DAgger loop
in :mod:`hjepa.agent.distill`) — and, in turn, proposes Mode-2's starting plan:
:func:`policy_plan` rolls the policy through the world model for ``T`` steps, and that action
sequence becomes the planner's initial mean (``init``).

The teacher's labels are noisy (the first action of a sampled plan is only partly determined by
the cost), so a policy can also be *stochastic*: it predicts a Gaussian over the teacher's action
— a mean and a per-component standard deviation — fitted by maximum likelihood, and acts by
sampling it. Where the teacher agrees with itself the spread is small and the policy acts as the
deterministic one; where it does not (beside a wall, by the door) the policy keeps the teacher's
hesitation, which is what lets the stochastic planner leave a state a fixed action would push
into forever (the environment stops a move at a wall instead of sliding along it).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hjepa.errors import InputError, NonFiniteLoss
from hjepa.nn.mlp import mlp
from hjepa.planning.base import Dynamics


class GoalPolicy(nn.Module):
    """``action = max_action * tanh(MLP([s, g, s - g]))``: bounded to the planner's action box.

    A stochastic policy's MLP also outputs the spread ``std`` of each action component, in
    ``[min_std, max_action]`` (``min_std = 0.05 max_action``); :meth:`forward` is the mean either way.

    Args:
        state_dim: ``D``.
        goal_dim: ``G`` (the difference ``s - g`` is an input when ``G == D``).
        action_dim: ``A``.
        max_action: bound of every action component (the planner's box ``[-max_action, max_action]``).
        hidden: width of the MLP.
        layers: linear layers of the MLP.
        stochastic: also predict the spread of the action (fitted by Gaussian likelihood).

    Shapes: ``state (..., D)``, ``goal (..., G)`` -> ``(..., A)``.
    """

    def __init__(self, state_dim: int, goal_dim: int, action_dim: int, max_action: float,
                 hidden: int = 256, layers: int = 3, stochastic: bool = False) -> None:
        super().__init__()
        if min(state_dim, goal_dim, action_dim) < 1:
            raise InputError(f"dims must be >= 1, got {state_dim}, {goal_dim}, {action_dim}")
        if not max_action > 0:
            raise InputError(f"max_action must be > 0, got {max_action}")
        self.state_dim, self.goal_dim, self.action_dim = state_dim, goal_dim, action_dim
        self.max_action = float(max_action)
        self.stochastic = bool(stochastic)
        self.min_std = 0.05 * self.max_action
        self.use_difference = state_dim == goal_dim
        in_dim = state_dim + goal_dim + (state_dim if self.use_difference else 0)
        self.net = mlp(in_dim, hidden, action_dim * (2 if self.stochastic else 1), layers)

    def forward(self, state: Tensor, goal: Tensor) -> Tensor:
        """The (mean) action ``(..., A)``."""
        return self.distribution(state, goal)[0]

    def distribution(self, state: Tensor, goal: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(mean (..., A), std (..., A))``; ``std`` is None for a deterministic policy."""
        if state.shape[-1] != self.state_dim or goal.shape[-1] != self.goal_dim:
            raise InputError(
                f"policy expects state (..., {self.state_dim}) and goal (..., {self.goal_dim}), "
                f"got {tuple(state.shape)} and {tuple(goal.shape)}"
            )
        state, goal = torch.broadcast_tensors(state, goal) if self.use_difference else (
            state, goal.expand(*state.shape[:-1], self.goal_dim))
        parts = [state, goal] + ([state - goal] if self.use_difference else [])
        out = self.net(torch.cat(parts, dim=-1))
        mean = self.max_action * torch.tanh(out[..., : self.action_dim])
        if not self.stochastic:
            return mean, None
        std = self.min_std + (self.max_action - self.min_std) * torch.sigmoid(out[..., self.action_dim:])
        return mean, std

    def sample(self, state: Tensor, goal: Tensor,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(action, mean)``, each ``(..., A)``: an action drawn from the policy and clamped to the
        action box (the mean itself for a deterministic policy), and the mean it was drawn around.
        The noise is drawn on the CPU, where the agent's generator lives."""
        mean, std = self.distribution(state, goal)
        if std is None:
            return mean, mean
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        return (mean + std * noise).clamp(-self.max_action, self.max_action), mean


@torch.no_grad()
def policy_plan(policy: GoalPolicy, dynamics: Dynamics, s0: Tensor, goal: Tensor, horizon: int) -> Tensor:
    """The policy's own plan: roll it through ``dynamics`` for ``horizon`` steps.

    Args:
        s0: ``(B, D)`` current states; ``goal``: ``(B, G)``.
        dynamics: planner dynamics on ``(B, S, D)`` states (here ``S = 1``).

    Returns:
        actions ``(B, horizon, A)``, the planner's ``init`` in Mode-2 warm-started by Mode-1.
    """
    if horizon < 1:
        raise InputError(f"horizon must be >= 1, got {horizon}")
    state = s0.unsqueeze(1)  # (B, 1, D)
    goal = goal.unsqueeze(1).to(state)
    actions = []
    for _ in range(horizon):
        action = policy(state, goal)  # (B, 1, A)
        actions.append(action)
        state = dynamics(state, action)
    return torch.cat(actions, dim=1)


def fit_policy(
    policy: GoalPolicy,
    states: Tensor,
    goals: Tensor,
    targets: Tensor,
    steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[float]:
    """Fit ``policy`` to ``targets``; returns the losses.

    A deterministic policy regresses them (squared error summed over the action); a stochastic
    one maximises their Gaussian likelihood (``sum_i log std_i + (t_i - mean_i)^2 / (2 std_i^2)``,
    the constant dropped), so its ``std`` learns how much the labels scatter in each state.

    Args:
        states: ``(M, D)``; goals: ``(M, G)``; targets: ``(M, A)``, e.g. Mode-2's actions.
        steps: AdamW steps on random minibatches of ``batch_size``.
    """
    if states.dim() != 2 or goals.dim() != 2 or targets.dim() != 2:
        raise InputError("states, goals and targets must be (M, D), (M, G) and (M, A)")
    count = states.shape[0]
    if count == 0 or goals.shape[0] != count or targets.shape[0] != count:
        raise InputError(f"need the same M >= 1 rows, got {states.shape[0]}, {goals.shape[0]}, {targets.shape[0]}")
    if not torch.isfinite(targets).all():
        raise InputError("targets contain NaN or inf")
    device = next(policy.parameters()).device
    optimizer = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=weight_decay)
    policy.train()
    losses = []
    bound = policy.max_action
    targets = targets.clamp(-bound, bound)
    for step in range(steps):
        index = torch.randint(count, (min(batch_size, count),), generator=generator)
        mean, std = policy.distribution(states[index].to(device), goals[index].to(device))
        error = (mean - targets[index].to(device)).square()
        if std is None:
            loss = error.sum(-1).mean()
        else:
            loss = (std.log() + error / (2 * std.square())).sum(-1).mean()
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"policy loss is not finite at step {step} (loss={float(loss.detach()):.4g}); lower --policy.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    if not all(bool(p.isfinite().all()) for p in policy.parameters()):
        raise NonFiniteLoss("policy weights became NaN or inf in training; lower --policy.lr")
    policy.eval()
    return losses
