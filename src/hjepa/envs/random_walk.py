"""Reward-free exploration data for Two Rooms: a batched random walk with a drifting heading.

As in PLDM (Sobal et al., 2025), the agent keeps a heading that changes a little each step,
``heading_{t+1} = heading_t + VonMises(0, kappa)``, and moves ``length ~ N(step_mean, step_std)``
clipped to ``[0, max_step]`` along it. Large ``kappa`` gives long straight runs; ``kappa = 0`` a
uniformly random heading each step. When the last move was cut short by a wall the heading is
optionally re-drawn uniformly, so walks do not slide along walls for the rest of the episode.

All randomness comes from an explicit ``torch.Generator``: torch's ``VonMises`` distribution
samples from the global generator, so :func:`sample_von_mises` implements the Best & Fisher (1979)
rejection sampler on top of ``torch.rand(..., generator=...)`` (and, for ``kappa`` above
:data:`NORMAL_ABOVE_KAPPA`, draws the von Mises' normal limit).
"""

from __future__ import annotations

import math
from dataclasses import asdict

import torch

from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError

NORMAL_ABOVE_KAPPA = 1e6
"""Above this concentration :func:`sample_von_mises` draws ``N(0, 1/kappa)`` (clamped to [-pi, pi]):
the von Mises' limit, whose variance differs from the exact ``1/kappa + 1/(2 kappa^2) + ...`` by a
relative 1/(2 kappa) (< 1e-6 here). Best & Fisher's envelope degrades in float64 there (its ``r - 1``
is about 1/(2 kappa); from about kappa = 1e16 ``c = kappa (r - f)`` is 0 and every draw is rejected, forever)."""


def sample_von_mises(
    kappa: float, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` angles (n,) float32 in (-pi, pi] from VonMises(loc=0, concentration=kappa).

    Best & Fisher (1979) wrapped-Cauchy envelope; every round redraws only the rejected samples
    (acceptance is above 65% for every ``kappa``), so the loop runs a handful of times. Above
    :data:`NORMAL_ABOVE_KAPPA`: the normal limit ``N(0, 1/kappa)``, one draw per angle.
    """
    if not kappa >= 0 or math.isinf(kappa):
        raise InputError(f"kappa must be finite and >= 0, got {kappa}")
    if kappa > NORMAL_ABOVE_KAPPA:
        spread = torch.randn(n, generator=generator, dtype=torch.float64) / math.sqrt(kappa)
        return spread.clamp(-math.pi, math.pi).float()
    if kappa < 1e-6:  # the density is uniform to float precision
        return (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1).mul(math.pi).float()
    a = 1.0 + math.sqrt(1.0 + 4.0 * kappa * kappa)
    b = (a - math.sqrt(2.0 * a)) / (2.0 * kappa)
    r = (1.0 + b * b) / (2.0 * b)
    out = torch.empty(n, dtype=torch.float64)
    pending = torch.arange(n)
    while pending.numel() > 0:
        u = torch.rand(pending.numel(), 3, generator=generator, dtype=torch.float64)
        z = torch.cos(math.pi * u[:, 0])
        f = (1.0 + r * z) / (r + z)
        c = kappa * (r - f)
        u2 = u[:, 1].clamp_min(1e-300)
        accept = (c * (2.0 - c) - u2 > 0) | (torch.log(c / u2) + 1.0 - c >= 0)
        theta = torch.sign(u[:, 2] - 0.5) * torch.acos(f.clamp(-1.0, 1.0))
        out[pending[accept]] = theta[accept]
        pending = pending[~accept]
    return out.float()


def check_walk_settings(kappa: float, step_mean: float, step_std: float, resample_on_block: float, prefix: str = "") -> None:
    """Raise :class:`InputError` (naming ``prefix + name``) unless ``kappa``, ``step_mean`` and ``step_std``
    are finite and >= 0 and ``resample_on_block`` is a probability (for configs, before any run starts)."""
    for name, value in (("kappa", kappa), ("step_mean", step_mean), ("step_std", step_std)):
        if not (value >= 0 and math.isfinite(value)):
            raise InputError(f"{prefix}{name} must be a finite number >= 0, got {value}")
    if not 0.0 <= resample_on_block <= 1.0:
        raise InputError(f"{prefix}resample_on_block must be in [0, 1], got {resample_on_block}")


class RandomWalkPolicy:
    """Batched random walk with von Mises heading noise (stateful across one batch of episodes).

    Usage: ``policy.reset(n, g)`` then, each step, ``action = policy.act(pos, prev_pos, g)`` where
    ``prev_pos`` is the position before the previous action (``None`` on the first step). Actions
    (n, 2) are displacements in pixels with norm in ``[0, max_step]``.
    """

    name = "random_walk"

    def __init__(
        self,
        kappa: float = 5.0,
        step_mean: float = 1.0,
        step_std: float = 0.4,
        max_step: float = 2.45,
        resample_on_block: float = 1.0,
    ) -> None:
        if not kappa >= 0 or math.isinf(kappa):
            raise InputError(f"kappa must be finite and >= 0, got {kappa}")
        if step_std < 0 or max_step <= 0:
            raise InputError(f"need step_std >= 0 and max_step > 0, got {step_std}, {max_step}")
        self.kappa = float(kappa)
        self.step_mean = float(step_mean)
        self.step_std = float(step_std)
        self.max_step = float(max_step)
        if not 0.0 <= float(resample_on_block) <= 1.0:
            raise InputError(f"resample_on_block must be a probability in [0, 1], got {resample_on_block}")
        self.resample_on_block = float(resample_on_block)
        self.heading: torch.Tensor | None = None  # (n,) radians
        self.last_action: torch.Tensor | None = None  # (n, 2) the displacement asked last step

    def params(self) -> dict:
        """Constructor arguments, for dataset metadata."""
        return {
            "kappa": self.kappa,
            "step_mean": self.step_mean,
            "step_std": self.step_std,
            "max_step": self.max_step,
            "resample_on_block": self.resample_on_block,
        }

    def reset(self, n: int, generator: torch.Generator | None = None) -> None:
        """Start ``n`` walks with uniform headings."""
        self.heading = (torch.rand(n, generator=generator) * 2 - 1) * math.pi
        self.last_action = torch.zeros(n, 2)

    def blocked(self, pos: torch.Tensor, prev_pos: torch.Tensor) -> torch.Tensor:
        """(n,) bool: the last move covered less distance than asked (a wall stopped it)."""
        assert self.last_action is not None
        moved = (pos - prev_pos).norm(dim=-1)
        asked = self.last_action.norm(dim=-1)
        return moved < asked - 1e-4

    def act(
        self,
        pos: torch.Tensor,
        prev_pos: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Actions (n, 2) for current positions ``pos`` (n, 2); ``prev_pos`` (n, 2) or None."""
        if self.heading is None or self.last_action is None:
            raise RuntimeError("call reset(n, generator) before act()")
        n = self.heading.shape[0]
        if pos.shape != (n, 2):
            raise InputError(f"pos must have shape ({n}, 2), got {tuple(pos.shape)}")
        heading = self.heading + sample_von_mises(self.kappa, n, generator)
        # Draw the uniform headings every step so the random stream does not depend on collisions.
        fresh = (torch.rand(n, generator=generator) * 2 - 1) * math.pi
        redraw = torch.rand(n, generator=generator) < self.resample_on_block
        if prev_pos is not None:
            heading = torch.where(self.blocked(pos, prev_pos) & redraw, fresh, heading)
        self.heading = torch.remainder(heading + math.pi, 2 * math.pi) - math.pi
        length = self.step_mean + self.step_std * torch.randn(n, generator=generator)
        length = length.clamp(0.0, self.max_step)
        action = length.unsqueeze(-1) * torch.stack([self.heading.cos(), self.heading.sin()], -1)
        self.last_action = action
        return action


def sample_start_anywhere(env: TwoRooms, layout, generator: torch.Generator | None = None) -> torch.Tensor:
    """Positions (N, 2) uniform over the free space of both rooms (room chosen by its area)."""
    zeros = torch.zeros(len(layout), dtype=torch.long)
    left_lo, left_hi = env.room_bounds(layout, zeros)
    right_lo, right_hi = env.room_bounds(layout, 1 - zeros)
    p_right = (right_hi - right_lo) / ((right_hi - right_lo) + (left_hi - left_lo))
    room = (torch.rand(len(layout), generator=generator) < p_right).long()
    return env.sample_in_room(layout, room, generator)


def sample_in_doorway(env: TwoRooms, layout, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform positions (N, 2) inside each layout's doorway (within the wall's thickness)."""
    cfg = env.config
    u = torch.rand(len(layout), 2, generator=generator)
    x = layout.wall_x.float() - 0.5 + cfg.wall_width * u[:, 0]
    y = layout.door_y + (u[:, 1] - 0.5) * 0.9 * cfg.door_size
    return torch.stack([x, y], dim=-1)


def walk(
    env, policy: RandomWalkPolicy, start: torch.Tensor, layout, steps: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Roll ``policy`` out for ``steps`` steps from ``start`` (E, 2), one walker per episode.

    ``env`` is any batched world with ``clip_action(action)`` and ``step(pos, action, layout)``
    (Two Rooms, the maze). Resets ``policy`` for E walkers. Returns ``positions`` (E, T+1, 2),
    ``start`` first, and ``actions`` (E, T, 2) as sent (norm-clipped).
    """
    episodes = start.shape[0]
    positions = torch.empty(episodes, steps + 1, 2)
    actions = torch.empty(episodes, steps, 2)
    positions[:, 0] = start
    pos = start
    policy.reset(episodes, generator)
    prev = None
    for t in range(steps):
        action = env.clip_action(policy.act(pos, prev, generator))
        prev, pos = pos, env.step(pos, action, layout)
        actions[:, t] = action
        positions[:, t + 1] = pos
    return positions, actions


def collect_random_walks(
    env: TwoRooms,
    policy: RandomWalkPolicy,
    episodes: int,
    steps: int,
    seed: int,
    wall_x_choices: torch.Tensor | None = None,
    door_y_range: tuple[float, float] | None = None,
    doorway_start_fraction: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Roll out ``episodes`` random walks of ``steps`` steps, batched over episodes.

    Starts are uniform over the free space, except that a ``doorway_start_fraction`` of the
    episodes start inside the doorway (chosen before any data is seen, still reward-free): a
    random walk rarely finds a door on its own (about 6% of 8-step windows cross it), and the
    world model can only learn what the door does from windows that pass through it.

    Returns ``positions`` (E, T+1, 2) float32, ``actions`` (E, T, 2) float32 (as sent to the
    environment, already norm-clipped), ``wall_x`` (E,) int64, ``door_y`` (E,) float32.
    Deterministic for a given ``seed``.
    """
    if episodes < 1 or steps < 1:
        raise InputError(f"episodes and steps must be >= 1, got {episodes}, {steps}")
    if policy.max_step > env.config.max_step + 1e-6:
        # The env would shorten every long move and the policy would read that as a wall hit.
        raise InputError(
            f"policy max_step {policy.max_step} exceeds the environment's {env.config.max_step}"
        )
    generator = torch.Generator().manual_seed(seed)
    layout = env.sample_layout(episodes, generator, wall_x_choices, door_y_range)
    pos = sample_start_anywhere(env, layout, generator)
    if not 0.0 <= doorway_start_fraction <= 1.0:
        raise InputError(f"doorway_start_fraction must be in [0, 1], got {doorway_start_fraction}")
    if doorway_start_fraction > 0:
        pos = torch.where(
            (torch.rand(episodes, generator=generator) < doorway_start_fraction).unsqueeze(-1),
            sample_in_doorway(env, layout, generator),
            pos,
        )
    positions, actions = walk(env, policy, pos, layout, steps, generator)
    return {
        "positions": positions,
        "actions": actions,
        "wall_x": layout.wall_x.long().clone(),
        "door_y": layout.door_y.float().clone(),
    }


def collection_meta(
    env: TwoRooms,
    policy: RandomWalkPolicy,
    seed: int,
    wall_x_choices: torch.Tensor | None = None,
    door_y_range: tuple[float, float] | None = None,
) -> dict:
    """JSON-ready description of a :func:`collect_random_walks` call, for dataset metadata."""
    return {
        "env": {"name": "two_rooms", "config": asdict(env.config)},
        "policy": {"name": policy.name, "params": policy.params()},
        "seed": int(seed),
        "wall_x_choices": None if wall_x_choices is None else [int(v) for v in wall_x_choices],
        "door_y_range": None if door_y_range is None else [float(v) for v in door_y_range],
    }
