"""`hjepa collect`: reward-free random walks in Two Rooms, stored in the chunked trajectory format
(also the first stage of `hjepa two-rooms`)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hjepa.data.trajectories import Trajectories
from hjepa.envs.random_walk import RandomWalkPolicy, collect_random_walks, collection_meta
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.errors import InputError, check_seed
from hjepa.recipes.two_rooms_config import (
    BAND_DRAWS,
    DataConfig,
    EvalConfig,
    TwoRoomsJob,
    check_layout_bands,
    fixed_layout_defaults,
    make_env,
    training_wall_choices,
)


def exploration_policy(data: DataConfig, env: TwoRooms) -> RandomWalkPolicy:
    """The reward-free random walk that ``data`` describes."""
    return RandomWalkPolicy(
        kappa=data.kappa, step_mean=data.step_mean, step_std=data.step_std, max_step=env.config.max_step,
        resample_on_block=data.resample_on_block,
    )


def dataset_meta(job: TwoRoomsJob, env: TwoRooms, seed: int) -> dict:
    """Metadata stored beside a collected dataset (environment, policy, seed, doorway starts)."""
    meta = collection_meta(env, exploration_policy(job.data, env), seed)
    meta["doorway_start_fraction"] = job.data.doorway_start_fraction
    return meta


def collect_walks(job: TwoRoomsJob, env: TwoRooms, seed: int, episodes: int) -> Trajectories:
    """Exactly ``episodes`` reward-free random walks (outside the held-out bands, if any) as a dataset."""
    policy = exploration_policy(job.data, env)
    wall_choices, _ = training_wall_choices(env, job.data)
    band = job.data.door_band
    drawn = episodes
    if band is not None:
        # Door heights inside the band are rejected: draw enough episodes to keep ``episodes``.
        full_lo, full_hi = env.config.door_y_range
        lo, hi = band
        covered = max(0.0, min(hi, full_hi) - max(lo, full_lo))
        kept_fraction = 1.0 - covered / (full_hi - full_lo) if full_hi > full_lo else float(covered == 0.0)
        if not kept_fraction > 0.0:
            raise InputError(f"data.door_band {band} leaves no door position for training")
        drawn = int(episodes / kept_fraction * 1.2) + 16
    for _ in range(BAND_DRAWS):
        arrays = collect_random_walks(
            env, policy, drawn, job.data.steps, seed, wall_x_choices=wall_choices,
            doorway_start_fraction=job.data.doorway_start_fraction,
        )
        if band is None:
            return Trajectories.from_arrays(arrays)
        keep = ((arrays["door_y"] < lo) | (arrays["door_y"] > hi)).nonzero().squeeze(-1)
        if len(keep) >= episodes:
            return Trajectories.from_arrays({k: v[keep[:episodes]] for k, v in arrays.items()})
        drawn *= 2  # short (rare): draw again from the same seed, twice as many
    raise InputError(f"data.door_band {band}: only {len(keep)} of {drawn // 2} walks drawn had their door outside it,"
                     f" {episodes} needed; narrow the band")



@dataclass(frozen=True)
class CollectCommand:
    """Collect reward-free random-walk episodes into the chunked trajectory format."""

    out: Path = Path("data/two-rooms")
    """Directory to write (must not exist or be empty, unless --overwrite)."""
    overwrite: bool = False
    """Replace what is at --out: once the new dataset is complete the old directory (dataset or not) is
    renamed to <out>.old-<timestamp>, never deleted."""
    seed: int = 0
    """Seed of the layouts, starts and walks."""
    layout: Literal["random", "fixed"] = "random"
    """Random wall and door per episode, or one fixed layout."""
    chunk_episodes: int = 1000
    """Episodes per chunk file."""
    env: TwoRoomsConfig = field(default_factory=TwoRoomsConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        check_seed("seed", self.seed)
        if self.chunk_episodes < 1:
            raise InputError(f"chunk_episodes must be >= 1, got {self.chunk_episodes}")
        check_layout_bands(self.layout, self.env, self.data, EvalConfig())

    def run(self) -> dict:
        env_config = dataclasses.replace(self.env, fixed_layout=self.layout == "fixed")
        job = fixed_layout_defaults(TwoRoomsJob(layout=self.layout, env=env_config, data=self.data, seed=self.seed))
        env = make_env(job)
        start = time.perf_counter()
        dataset = collect_walks(job, env, self.seed, self.data.episodes)
        meta = dataset_meta(job, env, self.seed)
        path = dataset.save(self.out, meta=meta, chunk_episodes=self.chunk_episodes, overwrite=self.overwrite)
        size = sum(f.stat().st_size for f in Path(path).iterdir())
        info = {"path": str(path), "episodes": len(dataset), "steps": dataset.steps,
                "bytes": size, "seconds": round(time.perf_counter() - start, 3)}
        print(json.dumps(info))
        return info
