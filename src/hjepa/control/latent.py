"""Model-predictive control in a world model's representation space from stacked pixel frames (the
pixel environments: PushT, PointMaze, Pendulum, reacher, cube).

The controller sees only observations (the start, then what the environment renders) and the goal
observation; the simulator's true state is used only by the world to check success.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.protocol import ControllerOutput
from hjepa.control.worlds import PixelObservation
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.data.windows import proprio_planes
from hjepa.envs.tasks import Tasks
from hjepa.planning.base import Dynamics
from hjepa.world.model import JEPAWorldModel


def stacked(frames: Tensor) -> Tensor:
    """``(N, m, C, H, W) -> (N, m*C, H, W)``: the observation the controller sees."""
    n, m, c, h, w = frames.shape
    return frames.reshape(n, m * c, h, w)


def latent_dynamics(model: JEPAWorldModel, frameskip: int, action_dim: int, hold: bool) -> Dynamics:
    """``(state (B, S, D), plan action (B, S, P)) -> next state (B, S, D)``.

    With ``hold`` a plan action is one (scaled) environment action ``(A,)`` held for
    ``frameskip`` steps; otherwise it is the whole macro action ``(frameskip * A,)`` (DINO-WM).
    """

    def dynamics(state: Tensor, action: Tensor) -> Tensor:
        # Held: [a, a, ..., a] is the k actions concatenated in time order, as in training.
        macro = action.repeat(*([1] * (action.dim() - 1)), frameskip) if hold else action
        return model.step(state, macro)

    return dynamics


def encode_observation(model: JEPAWorldModel, obs: PixelObservation) -> Tensor:
    """Stacked frames ``(N, m*C, H, W)`` uint8 (and proprioception ``(N, P)``, appended as constant
    channels) -> the model's states ``(N, D)``."""
    device = next(model.parameters()).device
    x = torch.from_numpy(obs.frames).to(device).float().div_(255.0)  # (N, m*C, H, W)
    if obs.proprio is not None:
        x = torch.cat([x, proprio_planes(torch.from_numpy(obs.proprio).to(x), *x.shape[-2:])], dim=1)
    return model.encode(x)


class LatentMPC:
    """Model-predictive control in representation space (encode, plan, execute, re-plan).

    Args:
        model: the world model, in eval mode.
        mpc: controller holding the planner, horizon and warm start.
        cost: ``IntrinsicCost`` without a goal; ``with_goal`` gives each episode its own.
        action_scale: ``(A,)`` the world model's actions are raw actions divided by this.
        frameskip: environment steps per planner step.
        hold: plan one held action per planner step instead of the full macro action.
        proprio: ``states (N, S) -> (N, P)`` when the model sees proprioception (for the goal's; the
            world shows the current one): it is appended to the frames as constant channels.
    """

    def __init__(
        self, model: JEPAWorldModel, mpc: ModelPredictiveController, cost: IntrinsicCost,
        action_scale: np.ndarray, frameskip: int, hold: bool, proprio=None,
    ) -> None:
        self.model, self.mpc, self.base_cost = model, mpc, cost
        self.scale = np.asarray(action_scale, dtype=np.float64)
        self.frameskip, self.hold = frameskip, hold
        self.action_repeat = frameskip
        self.proprio = proprio
        self._dynamics = latent_dynamics(model, frameskip, len(self.scale), hold)
        self.last_plan: Tensor | None = None

    def _encode(self, obs: PixelObservation) -> Tensor:
        return encode_observation(self.model, obs)

    def reset(self, tasks: Tasks) -> None:
        goal_proprio = None if self.proprio is None else self.proprio(tasks.goal.numpy()).astype(np.float32)
        with torch.no_grad():
            self._cost = self.base_cost.with_goal(self._encode(PixelObservation(stacked(tasks.goal_frames).numpy(), goal_proprio)))
        self.mpc.reset(len(tasks))

    def act(self, obs: PixelObservation, rows: Tensor) -> ControllerOutput:
        """``obs`` (stacked frames ``(N, m*C, H, W)`` uint8, proprioception) -> raw actions
        ``(N, frameskip, A)`` for the next planner step (every episode runs: the pixel worlds do not
        stop on success)."""
        with torch.no_grad():
            action, plan = self.mpc.act(self._encode(obs), self._dynamics, self._cost)
        self.last_plan = plan.actions
        a = action.cpu().double().numpy()
        n = a.shape[0]
        macro = np.repeat(a[:, None], self.frameskip, axis=1) if self.hold else a.reshape(n, self.frameskip, -1)
        return ControllerOutput(macro * self.scale)
