"""What every pixel adapter of an external gymnasium environment provides.

An adapter owns one copy of a simulator and shows it to hjepa the way Two Rooms is shown:

- observations are rendered frames, channels-first ``uint8`` ``(C, H, W)`` (``C = 3``, RGB);
- actions are ``float32`` vectors ``(A,)`` inside a box ``[action_low, action_high]``;
- the true low-dimensional state ``(S,)`` can be read and written (``get_state``/``set_state``),
  which is how goal observations are rendered and successes are checked, never how the agent
  perceives the world.

Each adapter also names a success test (``success(states, goals) -> (N,) bool``) and the state
quantities a linear probe should find in the representation (``probe_targets``). Some also give a
:class:`Simulator`: the same dynamics without a renderer, many rollouts per call (the privileged
"same planner on the true simulator" baseline plans with it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from hjepa.errors import InputError


@dataclass(frozen=True)
class PixelSpec:
    """Shapes and bounds of an adapter.

    Attributes:
        name: short name (``pusht``, ``pointmaze``, ``pendulum``, ``reacher``).
        env_id: the upstream environment id (``gym_pusht/PushT-v0``, ...).
        obs_shape: ``(C, H, W)`` of one rendered frame.
        action_low, action_high: ``(A,)`` box bounds of one environment action.
        state_names: names of the ``S`` entries of the true state.
        control_hz: environment steps per second of simulated time.
    """

    name: str
    env_id: str
    obs_shape: tuple[int, int, int]
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    state_names: tuple[str, ...]
    control_hz: float

    @property
    def action_dim(self) -> int:
        return len(self.action_low)

    @property
    def state_dim(self) -> int:
        return len(self.state_names)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "env_id": self.env_id, "obs_shape": list(self.obs_shape),
            "action_low": list(self.action_low), "action_high": list(self.action_high),
            "state_names": list(self.state_names), "control_hz": self.control_hz,
        }


def check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 512:
        raise InputError(f"observation size must be an int in [8, 512], got {size!r}")
    return size


def to_chw_uint8(image: np.ndarray, size: int) -> np.ndarray:
    """An ``(H', W', 3)`` uint8 render -> ``(3, size, size)`` uint8 (area-averaged resize)."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(f"expected an (H, W, 3) image, got shape {image.shape}")
    if image.shape[0] != size or image.shape[1] != size:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BOX))
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.uint8)


class PixelEnv(ABC):
    """One simulator copy with pixel observations and a readable/writable true state."""

    spec: PixelSpec

    @abstractmethod
    def reset(self, seed: int) -> np.ndarray:
        """Start an episode from the environment's own initial-state distribution; obs ``(C, H, W)``."""

    @abstractmethod
    def step(self, action: np.ndarray) -> np.ndarray:
        """Apply one action ``(A,)`` (clipped to the box); returns the new obs ``(C, H, W)``."""

    @abstractmethod
    def get_state(self) -> np.ndarray:
        """The true state ``(S,)`` float64."""

    @abstractmethod
    def set_state(self, state: np.ndarray) -> np.ndarray:
        """Put the simulator in ``state (S,)``; returns its rendered obs ``(C, H, W)``."""

    @abstractmethod
    def render_obs(self) -> np.ndarray:
        """The current observation ``(C, H, W)`` uint8."""

    def close(self) -> None:
        """Release the renderer (nothing by default)."""

    # -- helpers shared by the adapters ----------------------------------------------------------

    def clip_action(self, action: np.ndarray) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (self.spec.action_dim,):
            raise InputError(f"{self.spec.name}: action must have shape ({self.spec.action_dim},), got {action.shape}")
        if not np.isfinite(action).all():
            raise InputError(f"{self.spec.name}: action must be finite, got {action}")
        return np.clip(action, self.spec.action_low, self.spec.action_high)

    def check_state(self, state: np.ndarray) -> np.ndarray:
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if state.shape != (self.spec.state_dim,):
            raise InputError(
                f"{self.spec.name}: state must have shape ({self.spec.state_dim},) = {self.spec.state_names}, "
                f"got {state.shape}"
            )
        if not np.isfinite(state).all():
            raise InputError(f"{self.spec.name}: state must be finite, got {state}")
        return state


class Simulator(Protocol):
    """An environment's true dynamics from given states, batched, without rendering.

    ``simulate(states (N, S), actions (N, T, A)) -> states (N, T, S)``: row ``i`` starts in
    ``states[i]`` as a fresh adapter put there by ``set_state`` would, takes the actions ``[i, t]``
    (clipped to the box, as ``PixelEnv.step`` clips them) and reports the state after each.
    """

    def simulate(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def check_rollout_inputs(
    name: str, states: np.ndarray, actions: np.ndarray, state_dim: int, low: tuple[float, ...], high: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """``states (N, S)`` and ``actions (N, T, A)`` of environment ``name`` as finite float64 arrays,
    the actions clipped to the box ``[low, high]`` ``(A,)``."""
    states, actions = np.asarray(states, dtype=np.float64), np.asarray(actions, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != state_dim:
        raise InputError(f"{name}: states must be (N, {state_dim}), got {states.shape}")
    if actions.ndim != 3 or actions.shape[0] != states.shape[0] or actions.shape[2] != len(low):
        raise InputError(f"{name}: actions must be ({states.shape[0]}, T, {len(low)}), got {actions.shape}")
    if not (np.isfinite(states).all() and np.isfinite(actions).all()):
        raise InputError(f"{name}: states and actions must be finite")
    return states, np.clip(actions, low, high)


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles folded into ``[-pi, pi)``."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi
