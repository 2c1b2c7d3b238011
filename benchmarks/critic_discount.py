"""The critic's discount: success of short-horizon planning with critics fitted at several discounts.

One short-term memory (an agent training run's ``checkpoints/memory.pt``) is refitted from scratch
by one critic per (discount, seed) with `hjepa agent train`'s critic defaults (``CriticOptions``:
Monte Carlo returns, hindsight goals, imagined states, anchor pairs) but ``steps`` per fit, and Mode-2
plans the same cross-room evaluation episodes with
horizon 4 and that critic as terminal cost, at the same discount.

Memory stores every intrinsic term unweighted and undiscounted, so the discount is free: only
the targets change. A discount ``gamma`` makes the critic predict the cost of roughly the next
``1 / (1 - gamma)`` decisions; the sweep measures which effective horizon a critic learns best
from a few hundred episodes of the agent's own (imperfect) behaviour.

    python benchmarks/critic_discount.py --memory RUN/checkpoints/memory.pt --checkpoint WM.pt
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

from common import RESULTS_DIR, write_result
from hjepa.agent.configurator import task_preset
from hjepa.agent.critic import Critic
from hjepa.agent.critic_training import mean_return, train_critic
from hjepa.agent.memory import ShortTermMemory
from hjepa.recipes.agent_config import AgentRunJob, CriticOptions
from hjepa.recipes.agent_setup import build_agent, load_setup, play


@dataclass(frozen=True)
class Config:
    """Critic discount sweep."""

    memory: Path
    """``checkpoints/memory.pt`` of an `hjepa agent train --task reach` run."""
    checkpoint: Path = Path("runs/agent/agent-wm/checkpoints/world_model.pt")
    """The fixed-layout world model that run was trained on."""
    discounts: tuple[float, ...] = (0.8, 0.85, 0.9, 0.95, 0.98, 0.99)
    """Discounts per planner step to fit and plan with."""
    seeds: tuple[int, ...] = (0,)
    """Critic initialisation and minibatch seeds per discount."""
    steps: int = 4000
    """Optimiser steps of each fit (from scratch, on the whole memory)."""
    horizon: int = 4
    """Planning horizon with the critic."""
    episodes: int = 300
    """Evaluation episodes per row."""
    eval_seed: int = 10_000
    """Seed of the evaluation episodes (the agent suite's)."""
    threads: int = 1
    """Torch CPU threads."""
    out_dir: Path = RESULTS_DIR
    """Where critic_discount.json is written."""

    def __post_init__(self) -> None:
        if not self.memory.is_file():
            raise FileNotFoundError(f"no memory checkpoint at {self.memory} (run `hjepa agent train` first)")
        bad = [d for d in self.discounts if not 0.0 <= d < 1.0]
        if bad:
            raise ValueError(f"discounts must be in [0, 1), got {bad}")


def main(config: Config) -> Path:
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    setup = load_setup(AgentRunJob(checkpoint=config.checkpoint, task="reach", threads=config.threads))
    memory = ShortTermMemory.from_state_dict(torch.load(config.memory))
    dim = setup.perception.state_dim
    c = CriticOptions()  # the training pipeline's critic settings
    rows = []
    for discount in config.discounts:
        spec = dataclasses.replace(task_preset("reach"), discount=discount, horizon=config.horizon)
        short = setup.configurator.configure(spec)
        tasks = setup.configurator.sample_tasks(short, config.episodes, config.eval_seed)
        dynamics = build_agent(setup, short, "mode2", 0).dynamics
        for seed in config.seeds:
            torch.manual_seed(seed)
            critic = Critic(dim, dim, c.hidden, c.layers, mean_return(memory, short.weights, discount))
            t0 = time.perf_counter()
            history = train_critic(critic, memory, short.weights, discount, c.method, config.steps, c.batch_size,
                                   c.lr, hindsight=c.hindsight, dynamics=dynamics, imagined=c.imagined,
                                   imagined_steps=c.imagined_steps, anchor=c.anchor,
                                   generator=torch.Generator().manual_seed(seed))
            fit_seconds = time.perf_counter() - t0
            result = play(setup, short, build_agent(setup, short, "mode2", 0, critic=critic), tasks).summary()
            out = {"discount": discount, "seed": seed, "effective_decisions": 1.0 / (1.0 - discount),
                   "success_rate": result["success_rate"], "mean_steps": result["mean_steps_to_success"],
                   "final_loss": history[-1]["critic_loss"], "fit_seconds": fit_seconds,
                   "episodes": result["episodes"]}
            print(out, flush=True)
            rows.append(out)
    columns = ["discount", "seed", "effective_decisions", "success_rate", "mean_steps", "final_loss", "fit_seconds",
               "episodes"]
    return write_result(
        config.out_dir, "critic_discount", "The critic's discount: H=4 + critic success against the discount",
        f"Critics refitted from scratch on {len(memory)} stored episodes ({config.memory}), one per discount and "
        f"seed; Mode-2 MPPI 64 x 2 at horizon {config.horizon} plans with each at its own discount on the same "
        "cross-room evaluation episodes.",
        config, columns, rows, notes=f"total {time.perf_counter() - start:.0f} s.",
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
