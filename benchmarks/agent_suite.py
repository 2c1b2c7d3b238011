"""The whole agent on one fixed-layout Two Rooms world model: critic, Mode-1 distillation, warm
starts and the forbidden zone, each against its target (issue 4).

Needs a world model, e.g. the quick fixed-layout one (about 3-5 minutes):

    .venv/bin/hjepa two-rooms --layout fixed --name agent-wm --runs-root runs/agent --threads 1
    python benchmarks/agent_suite.py --checkpoint runs/agent/agent-wm/checkpoints/world_model.pt

Steps (all episodes from ``--eval-seed``, never used in training; ``--episodes`` of each):

1. ``hjepa agent train --task reach`` in-process (Mode-2 experience, critic, DAgger policy), or
   reuse an existing training run with ``--reuse-training``;
2. critic: success of Mode-2 against the planning horizon, without the critic (the intrinsic
   cost's closest approach over the horizon) and with it (discounted intrinsic cost + critic at
   the last predicted state). Target: with the critic, a horizon 4x shorter reaches the success
   the long horizon has without it;
3. Mode-1: the distilled policy against Mode-2 (the policy's teacher): success and time per action,
   batched over the episodes and for one episode alone (latency). Target: >= 90% of Mode-2's
   success at >= 20x less time per action;
4. warm start: Mode-2 with few samples (1 iteration), started from the previous plan shifted
   (``mode2``) or from the policy's rollout through the world model (``mode2-warm``);
5. zone: the ``avoid`` task's episodes with and without the zone term: violations (environment
   steps inside the zone) per episode and success.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import tyro

from common import RESULTS_DIR, write_result
from hjepa.agent.checkpoints import load_critic, load_policy
from hjepa.agent.configurator import task_preset
from hjepa.recipes.agent_config import AgentRunJob, AgentTrainJob
from hjepa.recipes.agent_setup import build_agent, load_setup, play, with_horizon
from hjepa.recipes.agent_train import run_agent_train

Section = Literal["critic", "mode1", "warm", "zone"]


@dataclass(frozen=True)
class Config:
    """Agent benchmark suite."""

    checkpoint: Path = Path("runs/agent/agent-wm/checkpoints/world_model.pt")
    """Fixed-layout world model written by `hjepa two-rooms --layout fixed`."""
    sections: tuple[Section, ...] = ("critic", "mode1", "warm", "zone")
    """Which measurements to run."""
    episodes: int = 100
    """Evaluation episodes per row."""
    eval_seed: int = 10_000
    """Seed of the evaluation episodes."""
    horizons: tuple[int, ...] = (4, 8, 16)
    """Planning horizons of the critic section."""
    warm_samples: tuple[int, ...] = (4, 8, 16, 32)
    """Planner samples (1 iteration) of the warm-start section."""
    latency_episodes: int = 5
    """Episodes run one at a time for the single-episode latency."""
    train_args: str = ""
    """Extra `hjepa agent train` options for the training run, one quoted string."""
    unstick: bool = True
    """Mode-2 takes a random action after a predicted move that did not happen (the task default)."""
    reuse_training: bool = False
    """Use the existing training run in runs_root instead of training again."""
    runs_root: Path = Path("runs/agent")
    """Where the training run (bench-agent-train) goes."""
    threads: int = 1
    """Torch CPU threads."""
    progress: bool = True
    """Show progress bars."""
    out_dir: Path = RESULTS_DIR
    """Where agent_suite.json is written."""

    def __post_init__(self) -> None:
        if any(samples < 2 for samples in self.warm_samples):  # checked before the long training, not after
            raise ValueError(f"warm_samples must all be >= 2 (MPPI needs two samples), got {self.warm_samples}")


def row(section: str, setting: str, result, latency=None) -> dict:
    summary = result.summary()
    out = {"section": section, "setting": setting, "success_rate": summary["success_rate"],
           "mean_steps": summary["mean_steps_to_success"], "violations_per_episode": summary["violations_per_episode"],
           "decide_ms_per_action": summary["decide_ms_per_action"], "ms_per_action": summary["ms_per_action"],
           "episodes": summary["episodes"]}
    if latency is not None:
        out.update(latency)
    print(out, flush=True)
    return out


def latency(setup, config, make_agent, tasks, count: int) -> dict:
    """Decision and total time per action for one episode at a time (the first ``count`` episodes)."""
    decide = total = 0.0
    actions = 0
    for e in range(min(count, len(tasks))):
        one = dataclasses.replace(tasks, layout=tasks.layout.index(slice(e, e + 1)), start=tasks.start[e:e + 1],
                                  goal=tasks.goal[e:e + 1], target_room=tasks.target_room[e:e + 1])
        result = play(setup, config, make_agent(), one)
        decide += result.info["decide_seconds"]
        total += result.info["decide_seconds"] + result.info["perceive_seconds"]
        actions += result.decisions
    return {"latency_decide_ms": 1000 * decide / max(actions, 1), "latency_ms": 1000 * total / max(actions, 1)}


def main(config: Config) -> Path:
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    train_name = "bench-agent-train"
    learned = config.runs_root / train_name
    if not (config.reuse_training and (learned / "checkpoints" / "policy.pt").is_file()):
        argv = ["--checkpoint", str(config.checkpoint), "--task", "reach", "--name", train_name, "--runs-root",
                str(config.runs_root), "--overwrite", "--threads", str(config.threads), "--episodes", "20",
                *([] if config.progress else ["--no-progress"]), *config.train_args.split()]
        run_agent_train(tyro.cli(AgentTrainJob, args=argv))
    train_seconds = time.perf_counter() - start
    options = AgentRunJob(checkpoint=config.checkpoint, task="reach", threads=config.threads)
    setup = load_setup(options)
    rows: list[dict] = []
    reach = setup.configurator.configure(dataclasses.replace(task_preset("reach"), unstick=config.unstick))
    tasks = setup.configurator.sample_tasks(reach, config.episodes, config.eval_seed)
    policy = load_policy(learned / "checkpoints" / "policy.pt", reach.weights)
    critic = load_critic(learned / "checkpoints" / "critic.pt", reach.weights, reach.task.discount)

    def evaluate(cfg, mode, use_critic=False, episodes=tasks, desc=""):
        agent = build_agent(setup, cfg, mode, 0, policy=policy, critic=critic if use_critic else None)
        return play(setup, cfg, agent, episodes, progress=config.progress, desc=desc)

    if "critic" in config.sections:
        for horizon in config.horizons:
            short = with_horizon(reach, horizon)
            for use_critic in (False, True):
                label = f"H={horizon}" + (" + critic" if use_critic else "")
                rows.append(row("critic", label, evaluate(short, "mode2", use_critic, desc=label)))
    if "mode1" in config.sections:
        variants = [("mode2", False, f"mode2 (H={reach.plan.horizon})"),
                    ("mode1", False, "mode1 policy" + (" (sampled)" if policy.stochastic else ""))]
        if policy.stochastic:
            variants.append(("mode1", True, "mode1 policy (mean action)"))
        for mode, mean, label in variants:
            make = lambda m=mode, a=mean: build_agent(setup, reach, m, 0, policy=policy, policy_mean=a)  # noqa: E731
            result = play(setup, reach, make(), tasks, progress=config.progress, desc=label)
            rows.append(row("mode1", label, result, latency(setup, reach, make, tasks, config.latency_episodes)))
    if "warm" in config.sections:
        for samples in config.warm_samples:
            spec = dataclasses.replace(reach.task, samples=samples, iterations=1, elites=min(16, samples))
            cfg = setup.configurator.configure(spec)
            for mode in ("mode2", "mode2-warm"):
                label = f"{samples} samples x 1 it, " + ("cold (previous plan)" if mode == "mode2" else "warm (policy)")
                rows.append(row("warm", label, evaluate(cfg, mode, desc=label)))
    if "zone" in config.sections:
        avoid = setup.configurator.configure(dataclasses.replace(task_preset("avoid"), unstick=config.unstick))
        zone_tasks = setup.configurator.sample_tasks(avoid, config.episodes, config.eval_seed)
        for cfg, label in ((reach, "without zone term"), (avoid, "with zone term")):
            result = play(setup, cfg, build_agent(setup, cfg, "mode2", 0), zone_tasks, progress=config.progress,
                          desc=label, violation_zone=avoid.zone_box)
            rows.append(row("zone", label, result))
    columns = ["section", "setting", "success_rate", "mean_steps", "violations_per_episode", "decide_ms_per_action",
               "ms_per_action", "latency_decide_ms", "latency_ms", "episodes"]
    return write_result(
        config.out_dir, "agent_suite", "The whole agent: critic, Mode-1 distillation, warm start, forbidden zone",
        "One fixed-layout Two Rooms world model; cross-room episodes from the evaluation seed. Time per action is "
        "per episode with all episodes decided in one batched call (decide: policy or planner only; ms_per_action: "
        "plus the encoder); latency_*: one episode at a time. Mode-2 = MPPI 64 samples x 2 iterations unless "
        "stated. Violations: environment steps inside the zone per episode.",
        config, columns, rows,
        notes=f"Training run {learned} ({train_seconds:.0f} s, reused={config.reuse_training}); "
              f"total {time.perf_counter() - start:.0f} s.",
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
