"""Goal-reaching tasks of the pixel environments, with DINO-WM's two goal sources.

- :func:`sample_goal_tasks` (``dset``, its PushT setting): from held-out episodes (never used for
  training) draw ``n`` pairs (episode, step ``t``) with a fixed evaluation seed. The start is the
  simulator state and observation at ``t``; the goal is the observation the episode reached
  ``goal_steps`` environment steps later (DINO-WM: 5 planner steps x frameskip 5 = 25 steps) —
  reachable by construction.
- :func:`random_state_tasks` (``random_state``, its PointMaze setting): start and goal anywhere in
  free space at rest.

Both return :class:`~hjepa.envs.tasks.Tasks` whose ``start``/``goal`` are simulator states and
whose ``start_frames``/``goal_frames`` are the stacked frames the controller sees.
"""

from __future__ import annotations

import numpy as np
import torch

from hjepa.data.trajectories import Trajectories
from hjepa.envs.adapters.batch import PixelEnvBatch
from hjepa.envs.tasks import Tasks
from hjepa.errors import InputError


def sample_goal_tasks(dataset: Trajectories, n: int, goal_steps: int, frame_stack: int, seed: int) -> Tasks:
    """DINO-WM ``dset`` goals: ``n`` (episode, t) drawn uniformly with a fixed ``seed``; the tasks
    carry the actions the episode took in between (``reference_actions (N, goal_steps, A)``)."""
    if n < 1 or goal_steps < 1 or frame_stack < 1:
        raise InputError(f"n, goal_steps and frame_stack must be >= 1, got {n}, {goal_steps}, {frame_stack}")
    if dataset.steps < goal_steps:
        raise InputError(f"held-out episodes have {dataset.steps} steps, fewer than goal_steps={goal_steps}")
    rng = np.random.default_rng(seed)
    episode = rng.integers(0, len(dataset), n)
    start = rng.integers(0, dataset.steps - goal_steps + 1, n)
    goal = start + goal_steps

    frames, states, actions = dataset.frames.numpy(), dataset.states.numpy(), dataset.actions.numpy()

    def frames_at(step: np.ndarray) -> torch.Tensor:
        idx = np.clip(step[:, None] - np.arange(frame_stack - 1, -1, -1), 0, None)  # (N, m)
        return torch.from_numpy(frames[episode[:, None], idx])

    reference = actions[episode[:, None], start[:, None] + np.arange(goal_steps)]
    return Tasks(
        torch.from_numpy(states[episode, start]), torch.from_numpy(states[episode, goal]),
        start_frames=frames_at(start), goal_frames=frames_at(goal), reference_actions=torch.from_numpy(reference),
        source_episode=torch.from_numpy(episode), source_step=torch.from_numpy(start),
    )


def random_state_tasks(batch: PixelEnvBatch, n: int, seed: int) -> Tasks:
    """DINO-WM's ``random_state`` goals: start and goal states drawn anywhere in free space at rest by
    the adapter's ``sample_free_states``, the goal observation rendered from the goal state (``m``
    copies of the frame: at rest nothing moves). No reference actions exist (``reference_actions``
    is empty). ``batch`` needs at least one copy."""
    env = batch.envs[0]
    if not hasattr(env, "sample_free_states"):
        raise InputError(f"{env.spec.name} has no free-space state sampler: use eval.goal_source dataset")
    rng = np.random.default_rng(seed)
    starts, goals = env.sample_free_states(n, rng), env.sample_free_states(n, rng)
    m = batch.frame_stack

    def frames(states: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.repeat(env.set_state(s)[None], m, axis=0) for s in states]))

    empty = torch.zeros(n, 0, env.spec.action_dim, dtype=torch.float64)
    return Tasks(torch.from_numpy(np.asarray(starts)), torch.from_numpy(np.asarray(goals)), start_frames=frames(starts),
                 goal_frames=frames(goals), reference_actions=empty)
