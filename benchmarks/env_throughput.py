"""Two Rooms environment throughput, random-walk collection speed and dataset size on disk.

Measures, on the batched torch environment (``hjepa.envs.two_rooms.TwoRooms``, random layouts):

* steps per second with ``N`` copies stepped together, step only and step + render
  (observations ``(N, 2, 64, 64)``);
* ``collect_random_walks`` speed (episodes/s and env steps/s) with the demo's DataConfig;
* the stored size of the demo's default dataset (``DataConfig().episodes`` random walks, written
  with ``Trajectories.save`` into a temporary directory): MB and MB per 1000 episodes.

    python benchmarks/env_throughput.py                # full sizes
    python benchmarks/env_throughput.py --quick        # tiny sizes (smoke test)
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

from common import RESULTS_DIR, write_result
from hjepa.envs.random_walk import RandomWalkPolicy, collection_meta
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.recipes.collect import collect_walks
from hjepa.recipes.two_rooms_config import DataConfig, TwoRoomsJob


@dataclass(frozen=True)
class Config:
    """Environment throughput benchmark."""

    copies: tuple[int, ...] = (1, 64, 1024, 8192)
    """Batch sizes N (environment copies stepped together)."""
    min_seconds: float = 1.0
    """Time each measurement for at least this long (after warm-up)."""
    collect_episodes: int = 1000
    """Episodes for the random-walk collection speed."""
    dataset_episodes: int | None = None
    """Episodes of the stored dataset (None: the demo's DataConfig().episodes)."""
    threads: int = 0
    """Torch CPU threads (0: torch's default)."""
    seed: int = 0
    quick: bool = False
    """Tiny sizes for a smoke test (N in (1, 64), 50 episodes, 0.05 s per measurement)."""
    out_dir: Path = RESULTS_DIR
    """Where <script>.json is written."""


def time_loop(fn, min_seconds: float, warmup: int = 3) -> tuple[float, int]:
    """Call ``fn`` ``warmup`` times, then repeatedly for >= ``min_seconds``: (seconds, calls)."""
    for _ in range(warmup):
        fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= 3:
            return elapsed, calls


def env_rows(env: TwoRooms, copies: tuple[int, ...], min_seconds: float, seed: int) -> list[dict]:
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for n in copies:
        layout = env.sample_layout(n, generator)
        start = env.sample_in_room(layout, torch.randint(2, (n,), generator=generator), generator)
        actions = env.clip_action(3.0 * torch.randn(64, n, 2, generator=generator))
        state = {"pos": start, "t": 0}

        def step():
            state["pos"] = env.step(state["pos"], actions[state["t"] % 64], layout)
            state["t"] += 1

        def step_render():
            step()
            obs = env.render(state["pos"], layout)  # (N, 2, 64, 64)
            assert obs.shape == (n, 2, env.config.size, env.config.size)

        for label, fn in (("step", step), ("step + render", step_render)):
            seconds, calls = time_loop(fn, min_seconds)
            rows.append({
                "measure": label, "N": n,
                "env_steps_per_s": n * calls / seconds,
                "us_per_batched_call": 1e6 * seconds / calls,
            })
    return rows


def main(config: Config) -> Path:
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    copies = config.copies
    if config.quick:
        copies = tuple(c for c in config.copies if c <= 64) or (1,)
    min_seconds = 0.05 if config.quick else config.min_seconds
    collect_episodes = 50 if config.quick else config.collect_episodes
    data = DataConfig()
    dataset_episodes = config.dataset_episodes or (50 if config.quick else data.episodes)

    env = TwoRooms(TwoRoomsConfig())
    rows = env_rows(env, copies, min_seconds, config.seed)

    # Collection as the pipeline does it (doorway starts included), warm-up on a few episodes.
    job = TwoRoomsJob(data=data, seed=config.seed)
    collect_walks(job, env, config.seed, 8)
    start = time.perf_counter()
    dataset = collect_walks(job, env, config.seed, collect_episodes)
    seconds = time.perf_counter() - start
    rows.append({
        "measure": "collect_random_walks", "N": collect_episodes,
        "env_steps_per_s": collect_episodes * data.steps / seconds,
        "episodes_per_s": collect_episodes / seconds,
        "seconds": seconds,
    })

    dataset = collect_walks(job, env, config.seed, dataset_episodes)
    policy = RandomWalkPolicy(data.kappa, data.step_mean, data.step_std, env.config.max_step)
    with tempfile.TemporaryDirectory(prefix="hjepa-bench-") as tmp:
        start = time.perf_counter()
        path = dataset.save(Path(tmp) / "data", meta=collection_meta(env, policy, config.seed))
        save_seconds = time.perf_counter() - start
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    rows.append({
        "measure": "stored dataset", "N": len(dataset),
        "dataset_MB": size / 1e6,
        "MB_per_1000_episodes": size / 1e6 * 1000 / len(dataset),
        "seconds": save_seconds,
    })

    return write_result(
        config.out_dir, "env_throughput", "Two Rooms environment throughput",
        "Batched Two Rooms steps per second with N copies (step only, and step + render of (N, 2, 64, 64) "
        "observations); random-walk collection speed (demo DataConfig, "
        f"{data.steps} steps per episode); size on disk of the demo's default dataset written by Trajectories.save.",
        config,
        ["measure", "N", "env_steps_per_s", "us_per_batched_call", "episodes_per_s", "dataset_MB", "MB_per_1000_episodes", "seconds"],
        rows,
        notes="stored dataset: N = episodes actually kept, " f"{data.steps} steps each, uncompressed npz chunks.",
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
