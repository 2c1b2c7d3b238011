"""What the episode loop (:func:`hjepa.control.episodes.run_episodes`) drives and steps.

A :class:`Controller` decides; a :class:`World` is the batch of ``N`` environments the decisions
are executed in. Both see the same :class:`~hjepa.envs.tasks.Tasks` at ``reset``.

- ``Controller.act(obs, rows)``: ``obs`` is what the world shows for all ``N`` episodes (Two Rooms
  and the maze: the agent's positions ``(N, 2)``, which a pixel controller renders itself; the
  pixel environments: stacked frames ``(N, m*C, H, W)`` uint8); ``rows`` ``(M,)`` int64 are the
  episodes still running. It returns one action per running episode, ``(M, A)`` held for
  ``action_repeat`` environment steps, or ``(M, action_repeat, A)`` one per step.
- ``World.step(action, rows, frozen, substep)`` executes the ``substep``-th environment step of
  a decision; ``frozen (N,)`` episodes have finished and keep their state. ``World.frames(e)`` is
  the current frame of each of the first ``e`` episodes, for worlds that film (else ``[]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor

from hjepa.envs.tasks import Tasks


@dataclass
class ControllerOutput:
    """``action``: ``(M, A)`` or ``(M, action_repeat, A)`` (a tensor or an array) for the running
    episodes; ``planned_path``: ``(M, H+1, 2)`` positions the controller expects, or None."""

    action: Any
    planned_path: Tensor | None = None


class Controller(Protocol):
    """Decides actions for a batch of episodes (module docstring)."""

    action_repeat: int

    def reset(self, tasks: Tasks) -> None: ...

    def act(self, obs: Any, rows: Tensor) -> ControllerOutput: ...


class World(Protocol):
    """``N`` environments stepped in lockstep by the episode loop (module docstring).

    ``stop_on_success``: an episode stops (holds its state) once it succeeds, and one solved at the
    start counts as solved at step 0 (Two Rooms, the maze, the agent); otherwise every episode runs
    the whole budget and success is judged at the checks after acting (the pixel environments,
    which report success at the first check and at the final step).
    ``check_every_step``: success is checked after every environment step, else after each
    decision's last step.
    """

    stop_on_success: bool
    check_every_step: bool

    def reset(self, tasks: Tasks) -> None: ...

    def observe(self) -> Any: ...

    def step(self, action: Any, rows: Tensor, frozen: Tensor, substep: int) -> None: ...

    def success(self) -> Tensor: ...

    def state(self) -> Tensor: ...

    def distances(self) -> dict[str, Tensor]: ...

    def frames(self, episodes: int) -> list[Any]: ...
