"""Export pixel datasets to Minari (the gymnasium ecosystem's offline-data format) and import them back.

A pixel trajectory dataset (frames and states) becomes a Minari dataset whose observation space is a
``Dict`` of ``pixels`` (``Box(0, 255, (C, H, W), uint8)``, stored losslessly: no JPEG encoding)
and ``state`` (the simulator's true state); actions are the dataset's actions; rewards are zero
(the data is reward-free), terminations false, the last step of each episode a truncation.

Import reads any Minari dataset whose observations are such a ``Dict`` (an image key and a state
key, names configurable) into :class:`~hjepa.data.trajectories.Trajectories`; episodes are cut to the shortest one's
length, since the hjepa format holds episodes of one length.

Needs the ``minari`` extra (``pip install 'hjepa[minari]'``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from hjepa.data.trajectories import Trajectories
from hjepa.envs.adapters.extras import require
from hjepa.errors import InputError

EXTRA = "minari"


@contextlib.contextmanager
def _datasets_root(root: Path):
    """Point Minari at ``root`` for the duration (Minari reads ``MINARI_DATASETS_PATH`` on every
    call); the previous value is restored afterwards."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def export_minari(dataset: Trajectories, dataset_id: str, root: str | os.PathLike, description: str = "") -> Path:
    """Write ``dataset`` as the Minari dataset ``dataset_id`` under ``root``; returns its directory.

    ``dataset_id`` follows Minari's ``namespace/name-v0`` convention (e.g. ``hjepa/pusht-explore-v0``).
    Raises ``FileExistsError`` if it exists already.
    """
    minari = require("minari", "minari[hdf5]", "Minari export", extra=EXTRA)
    from gymnasium import spaces

    root = Path(root)
    if (root / dataset_id).exists():
        raise FileExistsError(f"Minari dataset {dataset_id!r} already exists under {root}")
    if dataset.frames is None or dataset.states is None:
        raise InputError("Minari export needs pixel trajectories (frames and states)")
    frames, states, actions = dataset.frames.numpy(), dataset.states.numpy(), dataset.actions.numpy()
    env = dataset.meta.get("env", {})
    low = np.asarray(env.get("action_low", np.full(actions.shape[-1], -np.inf)), dtype=np.float32)
    high = np.asarray(env.get("action_high", np.full(actions.shape[-1], np.inf)), dtype=np.float32)
    observation_space = spaces.Dict({
        "pixels": spaces.Box(0, 255, frames.shape[2:], np.uint8),
        "state": spaces.Box(-np.inf, np.inf, states.shape[2:], np.float64),
    })
    steps = dataset.steps
    buffers = []
    for e in range(len(dataset)):
        buffers.append(minari.data_collector.EpisodeBuffer(
            id=e, seed=int(dataset.episode_arrays["seeds"][e]),
            observations={"pixels": frames[e], "state": states[e]}, actions=actions[e],
            rewards=np.zeros(steps), terminations=np.zeros(steps, dtype=bool),
            truncations=np.arange(steps) == steps - 1,
        ))
    policy = dataset.meta.get("policy", {}).get("name", "unknown")
    with _datasets_root(root):
        minari.create_dataset_from_buffers(
            dataset_id, buffers, observation_space=observation_space,
            action_space=spaces.Box(low, high, (actions.shape[-1],), np.float32),
            algorithm_name=f"hjepa reward-free exploration ({policy})",
            description=description or f"hjepa pixel trajectories of {env.get('env_id', 'an environment')}",
            data_format="hdf5", jpeg_encoding=False,
        )
    return root / dataset_id


def import_minari(
    dataset_id: str, root: str | os.PathLike, image_key: str = "pixels", state_key: str = "state"
) -> Trajectories:
    """Read the Minari dataset ``dataset_id`` under ``root`` into :class:`~hjepa.data.trajectories.Trajectories`.

    Observations must be a dict with ``image_key`` (uint8 ``(C, H, W)`` frames) and ``state_key``;
    a dataset without them raises ``ValueError`` naming what it has. ``FileNotFoundError`` if
    the dataset does not exist.
    """
    minari = require("minari", "minari[hdf5]", "Minari import", extra=EXTRA)
    root = Path(root)
    if not (root / dataset_id).is_dir():
        raise FileNotFoundError(f"Minari dataset {dataset_id!r} not found under {root}")
    with _datasets_root(root):
        data = minari.load_dataset(dataset_id)
        episodes = list(data.iterate_episodes())
        metadata = list(data.storage.get_episode_metadata([ep.id for ep in episodes]))
    if not episodes:
        raise InputError(f"Minari dataset {dataset_id!r} has no episodes")
    first = episodes[0].observations
    if not isinstance(first, dict) or image_key not in first or state_key not in first:
        keys = sorted(first) if isinstance(first, dict) else type(first).__name__
        raise InputError(f"Minari dataset {dataset_id!r}: observations need keys {image_key!r} and {state_key!r}, "
                         f"got {keys}")
    steps = min(len(ep.actions) for ep in episodes)
    frames = np.stack([np.asarray(ep.observations[image_key][: steps + 1]) for ep in episodes])
    if frames.dtype != np.uint8 or frames.ndim != 5:
        raise InputError(f"Minari dataset {dataset_id!r}: {image_key!r} must be uint8 (C, H, W) frames, "
                         f"got {frames.dtype} {frames.shape[2:]}")
    states = np.stack([np.asarray(ep.observations[state_key][: steps + 1], dtype=np.float64) for ep in episodes])
    actions = np.stack([np.asarray(ep.actions[:steps], dtype=np.float32).reshape(steps, -1) for ep in episodes])
    seeds = np.array([-1 if m.get("seed") is None else int(m["seed"]) for m in metadata], dtype=np.int64)  # -1: unknown
    meta = {"source": {"minari_dataset": dataset_id, "episodes_cut_to": steps}}
    return Trajectories.from_arrays({"frames": frames, "actions": actions, "states": states, "seeds": seeds}, meta)
