"""The one episode loop: ``N`` episodes in lockstep, a controller deciding, a world executing.

At each decision the controller is called once for every episode still running; its action is
executed for ``action_repeat`` environment steps (held, or one per step). The time spent inside
the controller (perception + planning) is measured. Two Rooms, the maze, the pixel environments
and the agent all run through :func:`run_episodes`; what differs is the
:class:`~hjepa.control.protocol.World` (how actions are executed and success is judged) and the
:class:`~hjepa.control.protocol.Controller`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from hjepa.control.protocol import Controller, World
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError
from hjepa.runs.progress import progress as progress_bar


@dataclass
class EpisodeResult:
    """What :func:`run_episodes` measured for ``N`` episodes.

    success (N,) bool: succeeded at some check; steps_to_success (N,) int64 environment steps, -1
    if never; final_success (N,) at the last step; start_success (N,) already at the start;
    final_distance {name: (N,)} the world's distances to the goal at the end; paths (N, T+1, ...)
    the world's state at every environment step (held after an episode stops); planned_paths: for
    each of the first ``record`` episodes, one ``(H+1, 2)`` planned path (or None) per decision
    taken while it ran; frames: for the recorded episodes, what the world filmed (pixel
    environments); planning_seconds: time inside ``controller.act``; decisions: its calls;
    action_repeat: environment steps per decision; extra: per-episode ``(N,)`` measurements added by
    the caller (their means join the summary); info: plain numbers added by the caller (finite ones
    join the summary); trace: per-decision records the caller adds (for a metrics log).
    """

    success: Tensor
    steps_to_success: Tensor
    final_success: Tensor
    start_success: Tensor
    final_distance: dict[str, Tensor]
    paths: Tensor
    planned_paths: list[list[Tensor | None]] = field(default_factory=list)
    frames: list[list[Any]] = field(default_factory=list)
    planning_seconds: float = 0.0
    decisions: int = 0
    action_repeat: int = 1
    extra: dict[str, Tensor] = field(default_factory=dict)
    info: dict[str, float] = field(default_factory=dict)
    trace: list[dict] = field(default_factory=list)

    @property
    def episodes(self) -> int:
        return int(self.success.shape[0])

    @property
    def success_rate(self) -> float:
        return float(self.success.double().mean())

    @property
    def planning_ms_per_step(self) -> float:
        """Controller time per environment step for the whole batch, in milliseconds."""
        env_steps = self.decisions * self.action_repeat
        return 1000.0 * self.planning_seconds / env_steps if env_steps else 0.0

    @property
    def planning_ms_per_step_per_episode(self) -> float:
        return self.planning_ms_per_step / self.episodes

    def summary(self) -> dict[str, float | None]:
        """Plain numbers for logs and reports (float64 means; medians interpolate between the two middle
        values, as numpy's); ``mean_steps_to_success`` is None when nothing succeeded."""
        hit = self.steps_to_success[self.success].double()
        out: dict[str, float | None] = {
            "success_rate": self.success_rate,
            "final_success_rate": float(self.final_success.double().mean()),
            "start_success_rate": float(self.start_success.double().mean()),
            "episodes": float(self.episodes),
            "mean_steps_to_success": float(hit.mean()) if hit.numel() else None,
        }
        for name, value in self.final_distance.items():
            out[f"median_final_{name}"] = float(value.double().quantile(0.5))
            out[f"mean_final_{name}"] = float(value.double().mean())
        out.update({
            "planning_seconds": float(self.planning_seconds),
            "decisions": float(self.decisions),
            "planning_ms_per_step": self.planning_ms_per_step,
            "planning_ms_per_step_per_episode": self.planning_ms_per_step_per_episode,
        })
        for name, value in self.extra.items():
            out[name] = float(value.double().mean())
        out.update({name: value for name, value in self.info.items() if math.isfinite(value)})
        return out


def run_episodes(
    world: World, controller: Controller, tasks: Tasks, max_steps: int, record: int = 0,
    progress: bool = False, desc: str = "episodes",
) -> EpisodeResult:
    """Run ``controller`` in ``world`` on every task for up to ``max_steps`` environment steps.

    ``record`` keeps the planned paths (and, where the world films, the frames) of the first
    episodes. See :class:`~hjepa.control.protocol.World` for when episodes stop and succeed.
    """
    if max_steps < 1:
        raise InputError(f"max_steps must be >= 1, got {max_steps}")
    repeat = int(controller.action_repeat)
    if repeat < 1:
        raise InputError(f"controller.action_repeat must be >= 1, got {repeat}")
    n = len(tasks)
    record = max(0, min(record, n))
    world.reset(tasks)
    controller.reset(tasks)
    start_success = world.success()
    stop = world.stop_on_success
    done = start_success.clone() if stop else torch.zeros(n, dtype=torch.bool)  # episodes that stopped
    success = done.clone()
    steps_to_success = torch.where(success, 0, -1).long()
    paths = [world.state()]
    frames = [[frame] for frame in world.frames(record)]
    planned: list[list[Tensor | None]] = [[] for _ in range(record)]
    seconds, decisions, t = 0.0, 0, 0
    bar = progress_bar(max_steps, desc=desc, enabled=progress)
    try:
        while t < max_steps and not bool(done.all()):
            rows = (~done).nonzero().squeeze(-1)  # (M,) episodes still running
            tic = time.perf_counter()
            out = controller.act(world.observe(), rows)
            seconds += time.perf_counter() - tic
            decisions += 1
            if out.action.shape[0] != len(rows):
                raise InputError(f"controller returned actions for {out.action.shape[0]} episodes, expected {len(rows)}")
            slot = torch.full((n,), -1, dtype=torch.long)
            slot[rows] = torch.arange(len(rows))
            for e in range(record):  # only the few recorded episodes, not a hot loop
                if not done[e]:
                    plan = out.planned_path
                    planned[e].append(None if plan is None else plan[slot[e]].detach().cpu().clone())
            taken = min(repeat, max_steps - t)
            for substep in range(taken):
                world.step(out.action, rows, done, substep)
                t += 1
                paths.append(world.state())
                for e, frame in enumerate(world.frames(record)):
                    frames[e].append(frame)
                if world.check_every_step or substep == taken - 1:
                    ok = world.success()
                    arrived = ok & ~success
                    steps_to_success[arrived] = t
                    success |= ok
                    if stop:
                        done |= arrived
            bar.update(taken)
            bar.set_postfix(success=f"{float(success.float().mean()):.2f}", refresh=False)
    finally:
        bar.close()
    return EpisodeResult(
        success=success, steps_to_success=steps_to_success, final_success=world.success(),
        start_success=start_success, final_distance=world.distances(),
        paths=_pad(torch.stack(paths, dim=1), max_steps + 1), planned_paths=planned, frames=frames,
        planning_seconds=seconds, decisions=decisions, action_repeat=repeat,
    )


def _pad(paths: Tensor, length: int) -> Tensor:
    """``(N, T+1, ...)`` held at its last entry up to ``length`` entries (all episodes ended early)."""
    if paths.shape[1] >= length:
        return paths
    return torch.cat([paths, paths[:, -1:].expand(-1, length - paths.shape[1], *paths.shape[2:])], dim=1)
