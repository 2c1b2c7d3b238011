"""Does the world model know that walls stop the agent? A direct, decodable check.

The planner trusts the predictor most exactly where it matters: pressed against the wall, a
model that lets the agent "leak" through makes every plan aim straight at the goal. This check
starts the agent a few pixels from the wall and pushes it, open loop, for ``steps`` predictor
steps, either into solid wall or across open floor, and compares how far the model says the
agent went with how far it really went.

The predicted state is decoded without any trained probe: the agent is rendered at candidate
offsets along the push, each candidate is encoded, and the predicted state is read as the
nearest candidate (in state space). A model that ignores walls reports the full push length at
the wall; a model that knows them reports about the true, blocked, distance.
"""

from __future__ import annotations

import torch

from hjepa.envs.two_rooms import Layout, TwoRooms
from hjepa.errors import InputError
from hjepa.world.model import JEPAWorldModel


@torch.no_grad()
def wall_push_check(
    model: JEPAWorldModel,
    env: TwoRooms,
    episodes: int = 256,
    steps: int = 4,
    push: float = 1.0,
    candidates: int = 41,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Mean predicted vs true displacement (pixels) of ``steps`` pushes to the right.

    Args:
        model: the world model; its predictor takes ``2 * frameskip`` macro actions.
        env: the environment (layouts are sampled from it).
        episodes: layouts (and starts) per case.
        steps: predictor steps (each ``frameskip`` environment steps of ``(push, 0)``).
        push: step length in pixels (1.0 is the random walk's mean step).
        candidates: offsets tried when decoding the predicted state.

    Returns:
        ``{"wall_true_px", "wall_pred_px", "open_true_px", "open_pred_px"}``: at the wall the
        truth is a few pixels (blocked), in the open it is the whole push.
    """
    if episodes < 1 or steps < 1 or candidates < 2 or not push > 0:
        raise InputError(f"need episodes, steps >= 1, candidates >= 2 and push > 0, got {episodes}, {steps}, {candidates}, {push}")
    cfg = env.config
    frameskip = model.action_dim // 2
    device = next(model.parameters()).device
    layout = env.sample_layout(episodes, generator)
    reach = push * steps * frameskip
    u = torch.rand(3, episodes, generator=generator)
    wall_left = layout.wall_x.float() - 1.0  # last free column left of the wall
    # open floor: the whole push fits between the left border and the wall
    open_x = cfg.border + 1.0 + u[0] * (wall_left - cfg.border - 2.0 - reach).clamp(min=0.0)
    open_y = cfg.border + 4.0 + u[1] * (cfg.size - 2 * cfg.border - 9.0)
    # solid wall: 1-4 px left of it, at least 4 px above or below the door's edge
    wall_x = wall_left - 1.0 - 3.0 * u[2]
    away = cfg.door_size / 2 + 4.0 + 10.0 * u[1]
    wall_y = torch.where(layout.door_y > cfg.size / 2, layout.door_y - away, layout.door_y + away)
    action = torch.tensor([push, 0.0])
    macro = action.repeat(frameskip).expand(episodes, steps, 2 * frameskip).to(device)
    offsets = torch.linspace(0.0, reach + 4.0, candidates)
    model_was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    for case, start in (("open", torch.stack([open_x, open_y], -1)), ("wall", torch.stack([wall_x, wall_y], -1))):
        pos = start.clone()
        for _ in range(steps * frameskip):
            pos = env.step(pos, action.expand(episodes, 2), layout)
        predicted = model.rollout(_encode(model, env, start, layout, device), macro)[:, -1]  # (N, D)
        shifted = start.unsqueeze(0) + torch.stack([offsets, torch.zeros_like(offsets)], -1).unsqueeze(1)  # (K, N, 2)
        codes = _encode(model, env, shifted.reshape(-1, 2), _repeat(layout, candidates), device)
        codes = codes.reshape(candidates, episodes, -1)  # (K, N, D)
        nearest = (codes - predicted.unsqueeze(0)).pow(2).sum(-1).argmin(0)  # (N,)
        out[f"{case}_true_px"] = float((pos - start)[:, 0].mean())
        out[f"{case}_pred_px"] = float(offsets[nearest.cpu()].mean())
    model.train(model_was_training)
    return out


def _encode(model: JEPAWorldModel, env: TwoRooms, pos: torch.Tensor, layout: Layout, device) -> torch.Tensor:
    return model.encode(env.render(pos, layout).to(device)).float()


def _repeat(layout: Layout, times: int) -> Layout:
    return Layout(layout.wall_x.repeat(times), layout.door_y.repeat(times))
