"""Random actions: the floor any planner must beat."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from hjepa.control.protocol import ControllerOutput
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError


class RandomController:
    """Acts by ``draw(m) -> actions (m, ...)`` for the ``m`` running episodes, ignoring what it sees.

    Build the draw with :func:`random_moves` (Two Rooms and the maze) or :func:`uniform_box` (the
    pixel environments).
    """

    def __init__(self, draw: Callable[[int], Any], action_repeat: int) -> None:
        if action_repeat < 1:
            raise InputError(f"action_repeat must be >= 1, got {action_repeat}")
        self.draw = draw
        self.action_repeat = action_repeat

    def reset(self, tasks: Tasks) -> None:
        pass

    def act(self, obs: Any, rows: Tensor) -> ControllerOutput:
        return ControllerOutput(self.draw(len(rows)))


def random_moves(max_step: float, generator: torch.Generator) -> Callable[[int], Tensor]:
    """Moves ``(m, 2)``: uniform direction, length uniform in ``[0, max_step]`` pixels."""

    def draw(m: int) -> Tensor:
        angle = 2 * math.pi * torch.rand(m, generator=generator)
        length = max_step * torch.rand(m, generator=generator)
        return length.unsqueeze(-1) * torch.stack([angle.cos(), angle.sin()], dim=-1)

    return draw


def uniform_box(low: np.ndarray, high: np.ndarray, steps: int, seed: int) -> Callable[[int], np.ndarray]:
    """Actions ``(m, steps, A)``, each raw action uniform in the box ``[low, high]``."""
    low, high = np.asarray(low), np.asarray(high)
    rng = np.random.default_rng(seed)

    def draw(m: int) -> np.ndarray:
        return rng.uniform(low, high, (m, steps, len(low)))

    return draw
