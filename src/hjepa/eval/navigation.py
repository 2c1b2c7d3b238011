"""Batched evaluation of cross-room navigation in Two Rooms.

All ``N`` episodes run in lockstep: at each decision point one controller call decides an action
for every episode, which is then held for ``action_repeat`` environment steps. Finished episodes
stay where they are. The time spent inside the controller (perception + planning) is measured.

Controllers, all with ``reset(tasks)``, ``act(pos (N, 2)) -> ControllerOutput`` and
``action_repeat``:

- :class:`RandomController`: random actions, the floor any planner must beat;
- :class:`SimulatorMPC`: MPC on the true simulator, the ceiling for a given planner and cost;
- :class:`LearnedMPC`: MPC in the representation space of a JEPA world model, from pixels.

A controller receives true positions only so that a pixel-based one can render its own
observation; the learned controller never looks at them otherwise.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

from hjepa.agent.cost import IntrinsicCost
from hjepa.agent.dynamics import clip_norm, learned_dynamics, simulator_dynamics
from hjepa.agent.mpc import ModelPredictiveController
from hjepa.envs.render_rgb import observations_to_rgb
from hjepa.envs.tasks import sample_cross_room_tasks
from hjepa.envs.two_rooms import Layout, TwoRooms
from hjepa.agent.unstick import Unstick
from hjepa.planning.base import rollout
from hjepa.runs.plots import plot_paths
from hjepa.runs.progress import progress as progress_bar
from hjepa.world.model import JEPAWorldModel


# ------------------------------------------------------------------------------------ tasks


@dataclass
class NavigationTasks:
    """``N`` navigation problems: ``layout`` (N entries), ``start`` (N, 2), ``goal`` (N, 2)."""

    layout: Layout
    start: Tensor
    goal: Tensor

    def __post_init__(self) -> None:
        n = len(self.layout)
        for name, value in (("start", self.start), ("goal", self.goal)):
            if value.shape != (n, 2):
                raise ValueError(
                    f"{name} must be ({n}, 2) to match the layout, got {tuple(value.shape)}"
                )
            if not torch.isfinite(value).all():
                raise ValueError(f"{name} contains NaN or inf")

    def __len__(self) -> int:
        return len(self.layout)


def sample_navigation_tasks(
    env: TwoRooms,
    n: int,
    seed: int,
    wall_x_choices: Tensor | None = None,
    door_y_range: tuple[float, float] | None = None,
) -> NavigationTasks:
    """``n`` cross-room tasks (start in one room, goal in the other), reproducible from ``seed``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    generator = torch.Generator().manual_seed(seed)
    layout, start, goal = sample_cross_room_tasks(env, n, generator, wall_x_choices, door_y_range)
    return NavigationTasks(layout, start, goal)


# ------------------------------------------------------------------------------------ controllers


@dataclass
class ControllerOutput:
    """``action`` (N, 2) to hold; ``planned_path`` (N, H+1, 2) positions, or None if unknown."""

    action: Tensor
    planned_path: Tensor | None = None


class Controller(Protocol):
    """What :func:`evaluate_navigation` drives.

    ``act(pos, rows)`` gets the positions ``(M, 2)`` of the episodes still running, ``rows``
    (M,) being their indices among the tasks given to ``reset`` (None: all of them), and returns
    their actions ``(M, 2)``: finished episodes cost no planning.
    """

    action_repeat: int

    def reset(self, tasks: NavigationTasks) -> None: ...

    def act(self, pos: Tensor, rows: Tensor | None = None) -> ControllerOutput: ...


class RandomController:
    """Random actions: uniform direction, length uniform in ``[0, max_step]`` (the floor)."""

    def __init__(self, env: TwoRooms, action_repeat: int, generator: torch.Generator) -> None:
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        self.env = env
        self.action_repeat = action_repeat
        self.generator = generator

    def reset(self, tasks: NavigationTasks) -> None:
        pass

    def act(self, pos: Tensor, rows: Tensor | None = None) -> ControllerOutput:
        n = pos.shape[0]
        angle = 2 * math.pi * torch.rand(n, generator=self.generator)
        length = self.env.config.max_step * torch.rand(n, generator=self.generator)
        action = length.unsqueeze(-1) * torch.stack([angle.cos(), angle.sin()], dim=-1)
        return ControllerOutput(action.to(pos))


class SimulatorMPC:
    """MPC on the true simulator: state = position, cost = distance to the goal position.

    The cost is :class:`IntrinsicCost` with ``reduce_min=True`` (closest approach over the
    horizon, so plans may go around the wall). ``squared=False`` (plain pixel distance) keeps
    costs in a range where a sampling planner's temperature of order 1 is meaningful.
    """

    def __init__(
        self, env: TwoRooms, mpc: ModelPredictiveController, squared: bool = False
    ) -> None:
        self.env = env
        self.mpc = mpc
        self.action_repeat = mpc.action_repeat
        self.squared = squared
        self._layout: Layout | None = None
        self._cost: IntrinsicCost | None = None

    def reset(self, tasks: NavigationTasks) -> None:
        self._layout = tasks.layout
        self._goal = tasks.goal
        self._cost = IntrinsicCost(tasks.goal, squared=self.squared, reduce_min=True)
        self._dynamics = simulator_dynamics(self.env, tasks.layout, self.action_repeat)
        self.mpc.reset(len(tasks))

    def act(self, pos: Tensor, rows: Tensor | None = None) -> ControllerOutput:
        if self._cost is None or self._layout is None:
            raise ValueError("SimulatorMPC.act called before reset(tasks)")
        cost, dynamics = self._cost, self._dynamics
        if rows is not None:
            cost = IntrinsicCost(self._goal[rows], squared=self.squared, reduce_min=True)
            dynamics = simulator_dynamics(self.env, self._layout.index(rows), self.action_repeat)
        with torch.no_grad():
            action, plan = self.mpc.act(pos, dynamics, cost, rows=rows)
            path = rollout(pos, plan.actions.unsqueeze(1), dynamics)[:, 0]  # (M, H+1, 2)
        return ControllerOutput(action, path)


class LearnedMPC:
    """MPC in the representation space of a JEPA world model, from rendered observations.

    Args:
        env: renders observations ``(N, 2, 64, 64)`` from positions and layouts.
        model: the world model (put it in eval mode first); its predictor takes macro actions of
            ``2 * mpc.action_repeat`` dims.
        mpc: the receding-horizon controller (planner, horizon, action_repeat).
        cost_factory: ``goal_states (N, D) -> IntrinsicCost`` (e.g. ``base.with_goal``).
        position_decoder: ``states (M, D) -> positions (M, 2)`` (e.g. a linear probe's
            ``predict``), to draw the planned path; None = no planned path.
        max_action_norm: clip held actions to this L2 norm inside the model (default: the
            environment's ``max_step``, as the simulator does). Keep it within the range of the
            training data's actions: the model never saw longer steps.
        bf16: run the predictor under CPU bfloat16 autocast while planning.
        unstick: when an action predicted to move the agent did not, take a random one instead
            (``hjepa.agent.unstick``); None: never.
    """

    def __init__(
        self,
        env: TwoRooms,
        model: JEPAWorldModel,
        mpc: ModelPredictiveController,
        cost_factory: Callable[[Tensor], IntrinsicCost],
        position_decoder: Callable[[Tensor], Tensor] | None = None,
        max_action_norm: float | None = None,
        bf16: bool = False,
        unstick: Unstick | None = None,
    ) -> None:
        self.env = env
        self.model = model
        self.mpc = mpc
        self.action_repeat = mpc.action_repeat
        self.cost_factory = cost_factory
        self.position_decoder = position_decoder
        max_norm = env.config.max_step if max_action_norm is None else min(max_action_norm, env.config.max_step)
        self._max_norm = max_norm
        self._dynamics = learned_dynamics(model, mpc.action_repeat, max_norm, bf16=bf16)
        self._layout: Layout | None = None
        self._cost: IntrinsicCost | None = None
        self.unstick = unstick

    def _device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def _encode(self, pos: Tensor, layout: Layout) -> Tensor:
        obs = self.env.render(pos.cpu(), layout)
        return self.model.encode(obs.to(self._device()))

    def reset(self, tasks: NavigationTasks) -> None:
        self._layout = tasks.layout
        with torch.no_grad():
            self._goal_states = self._encode(tasks.goal, tasks.layout)  # (N, D), rendered once per task
        self._cost = self.cost_factory(self._goal_states)
        self.mpc.reset(len(tasks))
        if self.unstick is not None:
            self.unstick.reset(len(tasks))

    def act(self, pos: Tensor, rows: Tensor | None = None) -> ControllerOutput:
        if self._cost is None or self._layout is None:
            raise ValueError("LearnedMPC.act called before reset(tasks)")
        cost, layout = self._cost, self._layout
        if rows is not None:
            cost = self.cost_factory(self._goal_states[rows.to(self._goal_states.device)])
            layout = layout.index(rows)
        active = torch.arange(len(self._goal_states)) if rows is None else rows
        with torch.no_grad():
            state = self._encode(pos, layout)  # (M, D)
            stuck = None
            if self.unstick is not None:
                stuck = self.unstick.stuck(active, state)
                if stuck.any():
                    self.mpc.forget(active[stuck])  # plan afresh, not the same push
            action, plan = self.mpc.act(state, self._dynamics, cost, rows=rows)
            if self.unstick is not None:
                action = self.unstick.kick(clip_norm(action, self._max_norm), stuck)
                self.unstick.remember(active, state, self._dynamics(state.unsqueeze(1), action.unsqueeze(1))[:, 0])
            path = None
            if self.position_decoder is not None:
                states = rollout(state, plan.actions.unsqueeze(1), self._dynamics)[:, 0]
                flat = self.position_decoder(states.reshape(-1, states.shape[-1]))
                path = flat.reshape(*states.shape[:2], 2).to(pos)
        # Execute exactly the action the model imagined (clipped as inside the model).
        return ControllerOutput(clip_norm(action, self._max_norm).to(pos), path)


# ------------------------------------------------------------------------------------ evaluation


@dataclass
class NavigationResult:
    """Outcome of :func:`evaluate_navigation` for ``N`` episodes.

    success (N,) bool; steps_to_success (N,) int64, -1 if failed; final_distance (N,) to the goal;
    paths (N, max_steps+1, 2) executed positions (held after success); planned_paths: for each of
    the first ``record`` episodes, one (H+1, 2) planned path (or None) per decision taken while it
    was running; planning_seconds: total time inside ``controller.act``; decisions: act calls.
    """

    success: Tensor
    steps_to_success: Tensor
    final_distance: Tensor
    paths: Tensor
    planned_paths: list[list[Tensor | None]] = field(default_factory=list)
    planning_seconds: float = 0.0
    decisions: int = 0
    action_repeat: int = 1

    @property
    def episodes(self) -> int:
        return int(self.success.shape[0])

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean())

    @property
    def planning_ms_per_step(self) -> float:
        """Controller time per environment step for the whole batch, in milliseconds."""
        env_steps = self.decisions * self.action_repeat
        return 1000.0 * self.planning_seconds / env_steps if env_steps else 0.0

    @property
    def planning_ms_per_step_per_episode(self) -> float:
        return self.planning_ms_per_step / self.episodes

    def summary(self) -> dict[str, float]:
        """Plain floats for logs and reports; mean steps is NaN when nothing succeeded."""
        hit = self.steps_to_success[self.success].float()
        return {
            "success_rate": self.success_rate,
            "episodes": float(self.episodes),
            "mean_steps_to_success": float(hit.mean()) if hit.numel() else float("nan"),
            "median_final_distance": float(self.final_distance.median()),
            "mean_final_distance": float(self.final_distance.mean()),
            "planning_seconds": float(self.planning_seconds),
            "decisions": float(self.decisions),
            "planning_ms_per_step": self.planning_ms_per_step,
            "planning_ms_per_step_per_episode": self.planning_ms_per_step_per_episode,
        }


def evaluate_navigation(
    env: TwoRooms,
    tasks: NavigationTasks,
    controller: Controller,
    max_steps: int,
    success_radius: float,
    record: int = 0,
    progress: bool = False,
) -> NavigationResult:
    """Run every task for up to ``max_steps`` environment steps with ``controller``.

    Success: within ``success_radius`` of the goal at some step ``<= max_steps``; the episode then
    stops (its position is held). ``record`` keeps the planned paths of the first episodes.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if not success_radius > 0:
        raise ValueError(f"success_radius must be > 0, got {success_radius}")
    repeat = int(controller.action_repeat)
    if repeat < 1:
        raise ValueError(f"controller.action_repeat must be >= 1, got {repeat}")
    n, layout, goal = len(tasks), tasks.layout, tasks.goal
    record = max(0, min(record, n))

    pos = tasks.start.clone().float()
    paths = torch.empty(n, max_steps + 1, 2)
    paths[:, 0] = pos
    done = (pos - goal).norm(dim=-1) <= success_radius
    steps_to_success = torch.full((n,), -1, dtype=torch.long)
    steps_to_success[done] = 0
    planned: list[list[Tensor | None]] = [[] for _ in range(record)]
    seconds, decisions, t = 0.0, 0, 0

    controller.reset(tasks)
    bar = progress_bar(max_steps, desc="navigation", enabled=progress)
    try:
        while t < max_steps and not bool(done.all()):
            rows = (~done).nonzero().squeeze(-1)  # (M,) episodes still running
            tic = time.perf_counter()
            out = controller.act(pos[rows], rows)
            seconds += time.perf_counter() - tic
            decisions += 1
            if tuple(out.action.shape) != (len(rows), 2):
                raise ValueError(
                    f"controller returned action of shape {tuple(out.action.shape)}, "
                    f"expected ({len(rows)}, 2)"
                )
            slot = torch.full((n,), -1, dtype=torch.long)
            slot[rows] = torch.arange(len(rows))
            for e in range(record):  # only the few recorded episodes, not a hot loop
                if not done[e]:
                    plan = out.planned_path
                    planned[e].append(None if plan is None else plan[slot[e]].detach().cpu().clone())
            action = torch.zeros(n, 2)
            action[rows] = out.action.detach().cpu().float()
            taken = min(repeat, max_steps - t)
            for _ in range(taken):
                moved = env.step(pos, action, layout)
                pos = torch.where(done.unsqueeze(-1), pos, moved)
                t += 1
                paths[:, t] = pos
                arrived = ~done & ((pos - goal).norm(dim=-1) <= success_radius)
                steps_to_success[arrived] = t
                done = done | arrived
            bar.update(taken)
            bar.set_postfix(success=f"{float(done.float().mean()):.2f}", refresh=False)
    finally:
        bar.close()
    paths[:, t + 1 :] = pos.unsqueeze(1)  # everyone finished early: hold the last position
    return NavigationResult(
        success=done,
        steps_to_success=steps_to_success,
        final_distance=(pos - goal).norm(dim=-1),
        paths=paths,
        planned_paths=planned,
        planning_seconds=seconds,
        decisions=decisions,
        action_repeat=repeat,
    )


# ------------------------------------------------------------------------------------ pictures


def _episode_end(result: NavigationResult, e: int) -> int:
    """Last step worth showing: the step of success, else the end of the episode."""
    steps = int(result.steps_to_success[e])
    return steps if steps >= 0 else result.paths.shape[1] - 1


def _check_episodes(result: NavigationResult, episodes: Sequence[int]) -> list[int]:
    episodes = [int(e) for e in episodes]
    if not episodes:
        raise ValueError("episodes is empty")
    bad = [e for e in episodes if not 0 <= e < result.episodes]
    if bad:
        raise ValueError(f"episodes {bad} out of range for {result.episodes} episodes")
    return episodes


def episode_frames(
    env: TwoRooms,
    tasks: NavigationTasks,
    result: NavigationResult,
    episodes: Sequence[int],
    stride: int = 1,
) -> np.ndarray:
    """RGB frames ``(E, T, size, size, 3)`` uint8 of the executed paths, goal drawn in green.

    Frames are taken every ``stride`` steps up to the latest success (or the end) among the chosen
    episodes, the last one always included; pass the array's rows (or it whole, as a list) to
    :func:`hjepa.runs.gif.write_gif`.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    episodes = _check_episodes(result, episodes)
    end = max(_episode_end(result, e) for e in episodes)
    steps = list(range(0, end + 1, stride))
    if steps[-1] != end:
        steps.append(end)
    index = torch.tensor(episodes)
    pos = result.paths[index][:, steps]  # (E, T, 2)
    e_count, t_count = pos.shape[:2]
    flat_layout = tasks.layout.index(index.repeat_interleave(t_count))
    obs = env.render(pos.reshape(-1, 2), flat_layout)
    goals = tasks.goal[index].repeat_interleave(t_count, dim=0)
    rgb = observations_to_rgb(obs, goal=goals, dot_sigma=env.config.dot_sigma)
    return rgb.reshape(e_count, t_count, *rgb.shape[1:])


def plot_navigation(
    env: TwoRooms,
    tasks: NavigationTasks,
    result: NavigationResult,
    episodes: Sequence[int],
    out_path: Path | str,
) -> Path:
    """One panel per episode: walls, executed path (up to success), first planned path (when
    recorded), start, goal; the title says success or fail."""
    episodes = _check_episodes(result, episodes)
    index = torch.tensor(episodes)
    walls = list(env.wall_mask(tasks.layout.index(index)))
    executed = [result.paths[e, : _episode_end(result, e) + 1] for e in episodes]
    recorded = result.planned_paths
    planned = [recorded[e][0] if e < len(recorded) and recorded[e] else None for e in episodes]
    return plot_paths(
        walls,
        executed,
        planned,
        tasks.start[index],
        tasks.goal[index],
        out_path,
        titles=[f"episode {e}" for e in episodes],
        successes=[bool(result.success[e]) for e in episodes],
    )
