"""Training the critic from short-term memory: Monte Carlo returns or TD(0) with a target network.

Both regress ``V(s_t, g) / value_scale`` on a target divided by the same scale (mean squared error):

- ``mc`` (the default): the discounted return actually paid in the stored episode,
  ``G_t = c_t + discount * G_{t+1}`` (:meth:`ShortTermMemory.returns`; 0 after a terminal step, the
  last cost repeated forever after a truncated one). Unbiased for the policy that produced the
  episodes, no bootstrapping, stable; it needs whole episodes, which memory keeps. This is what
  the pipeline uses: episodes are short (<= 50 decisions) and all stored whole.
- ``td``: ``c_t + discount * (1 - done_t) * V_target(s_{t+1}, g)``, where ``V_target`` is a slowly
  moving copy of the critic (Polyak averaging with rate ``target_tau``). Works from windows of any
  length and on truncated episodes, at the price of bias while the critic is wrong.

``c_t`` is the weighted sum of the stored unweighted terms with the task's weights, so one memory
trains critics for several weightings.

Hindsight goals (``hindsight > 0``, Monte Carlo only, for goal-*state* tasks): a few hundred
episodes pursue a few hundred goals, far too few for ``V(s, g)`` to generalise over goals (a
critic fitted on them alone is right on its training pairs and noise elsewhere). So a fraction of
each batch takes as goal a state ``s_k`` the episode actually reached later (Andrychowicz et al.,
2017, "future" strategy): the goal term is recomputed against ``s_k`` for the steps ``t .. k-1``,
the other terms are kept, and the episode is taken to end at ``k``. The return is then the cost
of the path the agent really took from ``s_t`` to ``s_k`` — an upper bound of the best cost-to-go,
tight when the agent's paths are direct (Mode-2's are) — and an episode of length ``L`` gives
``L (L + 1) / 2`` training pairs instead of ``L``.
"""

from __future__ import annotations

import copy
from typing import Callable, Literal

import torch
from torch import Tensor

from hjepa.agent.critic import Critic
from hjepa.agent.memory import ShortTermMemory
from hjepa.errors import InputError, NonFiniteLoss
from hjepa.planning.base import Dynamics
from hjepa.runs.progress import progress as progress_bar

CriticMethod = Literal["mc", "td"]


def mean_return(memory: ShortTermMemory, weights: dict[str, float], discount: float) -> float:
    """Mean Monte Carlo return over the stored steps: a good ``value_scale`` for a new critic."""
    returns = memory.returns(weights, discount)
    finite = returns[torch.isfinite(returns)]
    if finite.numel() == 0:
        raise InputError("memory holds no steps to compute returns from")
    return max(float(finite.mean()), 1e-6)


def train_critic(
    critic: Critic,
    memory: ShortTermMemory,
    weights: dict[str, float],
    discount: float,
    method: CriticMethod = "mc",
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    target_tau: float = 0.01,
    hindsight: float = 0.0,
    squared_distance: bool = True,
    dynamics: Dynamics | None = None,
    imagined: float = 0.0,
    imagined_steps: int = 4,
    anchor: float = 0.0,
    episode_weights: Tensor | None = None,
    generator: torch.Generator | None = None,
    log: Callable[[dict, int], None] | None = None,
    log_every: int = 100,
    progress: bool = False,
) -> list[dict]:
    """Fit ``critic`` on ``memory``; returns the logged records (``critic_loss`` per ``log_every``).

    Args:
        critic: trained in place (on the device of its parameters).
        memory: the stored episodes; states and goals are the critic's inputs.
        weights: term name -> weight of the per-step cost (the intrinsic cost's ``weights``).
        discount: per step, in ``[0, 1)``.
        method: ``mc`` or ``td`` (see the module docstring).
        steps, batch_size, lr, weight_decay: AdamW settings.
        target_tau: ``td`` only, Polyak rate of the target network.
        hindsight: ``mc`` only, fraction of each batch with hindsight goals (needs a ``goal`` term).
        squared_distance: the goal term is the squared (else plain) distance, as in the cost.
        dynamics: the world model as planner dynamics, for ``imagined``.
        imagined: fraction of each batch whose state is replaced by the world model's prediction
            of it from up to ``imagined_steps`` steps earlier (see the module docstring).
        anchor: extra pairs, as a fraction of ``batch_size``, whose goal is the state itself, with
            cost-to-go 0 (an agent at its goal has arrived); goal-state tasks only. Without them the
            critic is never shown ``V(g, g)`` and, on Two Rooms, put it at a median of 0.36 of the
            typical value (up to 3x it) for the evaluation goals.
        episode_weights: ``(capacity,)`` weight of each stored episode in every draw (e.g. a
            bootstrap resample's counts, :func:`~hjepa.agent.memory.bootstrap_weights`), or None.
        generator: batch sampling randomness.
        log: called as ``log(record, step)`` every ``log_every`` steps (e.g. ``RunDir.log``).
    """
    if method not in ("mc", "td"):
        raise InputError(f"critic method must be 'mc' or 'td', got {method!r}")
    if steps < 1 or batch_size < 1:
        raise InputError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    if not 0.0 <= discount < 1.0:
        raise InputError(f"discount must be in [0, 1), got {discount}")
    if not 0.0 < target_tau <= 1.0:
        raise InputError(f"target_tau must be in (0, 1], got {target_tau}")
    if len(memory) == 0:
        raise InputError("memory is empty: act first, then train the critic")
    if not 0.0 <= hindsight <= 1.0:
        raise InputError(f"hindsight must be in [0, 1], got {hindsight}")
    if hindsight > 0 and (method != "mc" or "goal" not in weights):
        raise InputError("hindsight goals need method='mc' and a 'goal' term in the weights")
    relabelled = int(round(hindsight * batch_size))
    if not 0.0 <= imagined <= 1.0 or (imagined > 0 and (dynamics is None or imagined_steps < 1)):
        raise InputError("imagined must be in [0, 1] and needs dynamics and imagined_steps >= 1")
    predicted = int(round(imagined * batch_size))
    if not 0.0 <= anchor <= 1.0 or (anchor > 0 and critic.state_dim != critic.goal_dim):
        raise InputError(f"anchor must be in [0, 1] and needs goals that are states, got {anchor}")
    anchored = int(round(anchor * batch_size))
    device = critic.value_scale.device
    scale = float(critic.value_scale)
    returns = memory.returns(weights, discount) if method == "mc" else None
    costs = memory.step_costs(weights)
    target = copy.deepcopy(critic).requires_grad_(False) if method == "td" else None
    optimizer = torch.optim.AdamW(critic.parameters(), lr=lr, weight_decay=weight_decay)
    critic.train()
    history: list[dict] = []
    running = 0.0
    bar = progress_bar(steps, desc="critic", enabled=progress)
    for step in bar:
        batch = memory.sample(batch_size, 1, generator, episode_weights)
        state = batch.states[:, 0].to(device)
        goal = batch.goals.to(device)
        if returns is not None:
            value = returns[batch.episode, batch.start].to(device)
        else:
            assert target is not None
            cost = costs[batch.episode, batch.start].to(device)
            with torch.no_grad():
                following = target(batch.states[:, 1].to(device), goal)
            value = cost + discount * (~batch.done[:, 0].to(device)).float() * following
        episode, t = batch.episode, batch.start
        if relabelled:
            extra = hindsight_batch(memory, relabelled, weights, discount, squared_distance, generator,
                                    episode_weights)
            episode = torch.cat([episode[relabelled:], extra[0]])
            t = torch.cat([t[relabelled:], extra[1]])
            state = memory.states[episode, t].to(device)
            goal = torch.cat([goal[relabelled:], extra[2].to(device)])
            value = torch.cat([value[relabelled:], extra[3].to(device)])
        if predicted:
            assert dynamics is not None
            with torch.no_grad():
                imagined_part = imagined_states(memory, episode[:predicted], t[:predicted], dynamics,
                                                imagined_steps, generator)
            state = torch.cat([imagined_part.to(device), state[predicted:]])
        if anchored:
            at_goal = memory.sample(anchored, 1, generator, episode_weights).states[:, 0].to(device)
            state, goal = torch.cat([state, at_goal]), torch.cat([goal, at_goal])
            value = torch.cat([value, value.new_zeros(anchored)])
        loss = (critic.normalized(state, goal) - value / scale).square().mean()
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"critic loss is not finite at step {step} (loss={float(loss.detach()):.4g}); lower --critic.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if target is not None:
            with torch.no_grad():
                for p_target, p in zip(target.parameters(), critic.parameters()):
                    p_target.lerp_(p, target_tau)
        running += float(loss.detach())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            count = (step % log_every) + 1
            record = {"critic_loss": running / count}
            running = 0.0
            history.append({"step": step + 1, **record})
            bar.set_postfix(loss=f"{record['critic_loss']:.4f}", refresh=False)
            if log is not None:
                log(record, step + 1)
    if not all(bool(p.isfinite().all()) for p in critic.parameters()):
        raise NonFiniteLoss("critic weights became NaN or inf in training; lower --critic.lr")
    critic.eval()
    return history


def hindsight_batch(memory: ShortTermMemory, batch: int, weights: dict[str, float], discount: float,
                    squared: bool, generator: torch.Generator | None,
                    episode_weights: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``batch`` triples ``(s_t (B, D), s_k (B, D), G_t (B,))`` with the hindsight goal ``s_k``,
    ``t < k <= L``, and the discounted cost paid from ``t`` until ``s_k`` was reached (episodes
    weighted by ``episode_weights (capacity,)`` when given)."""
    slots = memory.slots
    lengths = memory.lengths[slots].float()
    if episode_weights is not None:
        lengths = lengths * episode_weights[slots].float()
    episode = slots[torch.multinomial(lengths, batch, replacement=True, generator=generator)]
    length = memory.lengths[episode]
    t = (torch.rand(batch, generator=generator) * length).long().clamp(max=length - 1)
    k = t + 1 + (torch.rand(batch, generator=generator) * (length - t)).long().clamp(max=length - t - 1)
    window = memory.max_length
    j = t[:, None] + torch.arange(window)[None, :]  # (B, J) steps t, t+1, ...
    inside = j < k[:, None]
    rows = episode[:, None]
    reached = memory.states[rows, (j + 1).clamp(max=window)]  # s_{j+1}, (B, J, D)
    goal = memory.states[episode, k]  # (B, D)
    distance = (reached - goal[:, None, :]).square().sum(-1)
    if not squared:
        distance = distance.sqrt()
    others = {name: w for name, w in weights.items() if name != "goal"}
    other_costs = memory.step_costs(others)[rows, j.clamp(max=window - 1)] if others else 0.0
    costs = (weights["goal"] * distance + other_costs) * inside
    powers = discount ** torch.arange(window, dtype=costs.dtype)
    returns = (costs * powers).sum(-1)
    return episode, t, goal, returns


def imagined_states(memory: ShortTermMemory, episode: Tensor, t: Tensor, dynamics: Dynamics, max_steps: int,
                    generator: torch.Generator | None) -> Tensor:
    """States ``(B, D)`` standing in for ``s_t``: predicted by ``dynamics`` from ``s_{t-h}`` under the
    actions actually taken, ``h`` uniform in ``1 .. min(t, max_steps)`` (``h = 0``, the real state,
    where ``t = 0``)."""
    draw = 1 + (torch.rand(t.shape[0], generator=generator) * max_steps).long().clamp(max=max_steps - 1)
    h = torch.minimum(draw, t)
    start = t - h
    state = memory.states[episode, start].unsqueeze(1)  # (B, 1, D)
    device_state = state
    for i in range(int(h.max()) if len(h) else 0):
        action = memory.actions[episode, (start + i).clamp(max=memory.max_length - 1)].unsqueeze(1)
        moved = dynamics(device_state, action.to(device_state))
        device_state = torch.where((i < h).to(moved.device)[:, None, None], moved, device_state)
    return device_state[:, 0]


@torch.no_grad()
def critic_error(critic: Critic, memory: ShortTermMemory, weights: dict[str, float], discount: float) -> dict:
    """How well ``critic`` fits the Monte Carlo returns in ``memory``: relative RMSE and correlation."""
    returns = memory.returns(weights, discount)
    mask = torch.isfinite(returns)
    rows, steps = mask.nonzero(as_tuple=True)
    device = critic.value_scale.device
    predicted = critic(memory.states[rows, steps].to(device), memory.goals[rows].to(device)).cpu()
    truth = returns[rows, steps]
    rmse = float((predicted - truth).square().mean().sqrt())
    corr = float(torch.corrcoef(torch.stack([predicted, truth]))[0, 1]) if truth.numel() > 1 else float("nan")
    return {"critic_rmse": rmse, "critic_relative_rmse": rmse / max(float(truth.abs().mean()), 1e-12),
            "critic_corr": corr, "critic_samples": int(truth.numel())}
