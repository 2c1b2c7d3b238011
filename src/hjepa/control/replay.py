"""Open-loop replay of a task's reference actions (the pixel environments' upper bound for a
deterministic simulator, and a check of the evaluation harness itself)."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from hjepa.control.protocol import ControllerOutput
from hjepa.envs.tasks import Tasks


class ReplayReference:
    """The held-out episode's own actions, open loop, then zero actions (deterministic upper bound)."""

    def __init__(self, frameskip: int) -> None:
        self.frameskip = self.action_repeat = frameskip

    def reset(self, tasks: Tasks) -> None:
        self.actions = tasks.reference_actions.numpy()  # (N, G, A)
        self.decisions = 0

    def act(self, obs: np.ndarray, rows: Tensor) -> ControllerOutput:
        """The next ``frameskip`` reference actions ``(N, frameskip, A)`` (zeros past the end)."""
        n, total, a = self.actions.shape
        out = np.zeros((n, self.frameskip, a))
        begin = self.decisions * self.frameskip
        chunk = self.actions[:, begin:begin + self.frameskip]
        out[:, :chunk.shape[1]] = chunk
        self.decisions += 1
        return ControllerOutput(out)
