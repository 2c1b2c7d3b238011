"""PushT with goals 50 and 75 steps away: HWM's two-level planning beside flat planning (issue 19).

Level 1 is a trained `hjepa gym --env pusht` world model (frozen). Level 2
(:class:`hjepa.world.hierarchy.HighLevelModel`) is trained here on that model's states of the same
training episodes, every 5 planner steps (25 environment steps): an abstraction of the level-1
state, a noisy encoder of the 5 planner steps' actions into a latent macro-action, and a predictor
(`hjepa.world.hierarchy_train.high_level_loss`; the level-1 states are encoded once, not per step).
Planning (:class:`hjepa.control.latent_hierarchical.HierarchicalLatentMPC`): CEM over latent
macro-actions proposes the next subgoal, CEM over planner steps (the flat controller's budget)
plans toward it. Tasks: stable-worldmodel's protocol with the goal ``d`` steps ahead on the
privileged expert's trajectory and ``2 d`` environment steps allowed. Validation tasks: the gym job's
(expert trajectories of seed 7101, task seed 99); test tasks: its test split's (7102, 10099), measured
once; ``--write`` then puts the ``pusht`` rows into ``hierarchy_test.json`` (the maze rows are kept).

    python pusht_hierarchy.py --run ../runs/bench/peer-pusht-pldm-proprio-3x-practice \\
        --train-data ../runs/bench/peer-pusht-pldm-proprio-3x/data/train \\
        --tasks ../runs/bench/peer-pusht-pldm-proprio-3x/data/expert-validation --out ../runs/s28/pusht-hier-v1
    python pusht_hierarchy.py ... --split test --seed 10099 --level2 ../runs/s28/pusht-hier-v1/level2.pt \\
        --tasks ../runs/bench/peer-pusht-pldm-proprio-3x-test/data/expert-test --goal-weight 0.3 --write
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import tyro

from common import RESULTS_DIR, write_result
from hierarchy_test import kept_rows, stderr
from hjepa.control.episodes import run_episodes
from hjepa.control.latent import LatentMPC, encode_observation
from hjepa.control.latent_hierarchical import HierarchicalLatentMPC
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.worlds import PixelObservation, PixelWorld
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.data.goal_tasks import sample_goal_tasks
from hjepa.data.trajectories import Trajectories
from hjepa.envs.adapters import PixelEnvBatch, env_functions
from hjepa.planning.cem import CEM
from hjepa.planning.hierarchical import HierarchicalPlanner
from hjepa.world.checkpoint import load_world_checkpoint
from hjepa.world.hierarchy import HighLevelModel
from hjepa.world.hierarchy_train import HighLevelLossWeights, HighLevelTrainConfig, high_level_loss


@dataclass(frozen=True)
class Config:
    run: Path
    """A `hjepa gym --env pusht` run (its checkpoints/world_model.pt is level 1)."""
    train_data: Path
    """Level 2's training episodes (the level-1 run's data/train)."""
    tasks: Path
    """Expert trajectories the tasks are cut from (data/expert-<split> of a gym run)."""
    out: Path
    goals: tuple[int, ...] = (50, 75)
    episodes: int = 50
    seed: int = 99
    """Task seed (the gym job's eval.seed: validation 99; the test split's expert trajectories use 10099)."""
    controllers: tuple[str, ...] = ("hierarchical", "flat")
    """'hierarchical', 'flat', and the diagnostic 'oracle-subgoals' (the expert's own frames as subgoals)."""
    macro_steps: int = 5
    state_dim: int = 32
    latent_action_dim: int = 8
    hidden: int = 256
    steps: int = 4000
    batch: int = 256
    window: int = 3
    lr: float = 2e-3
    kl: float = 0.002
    high_horizon: int = 4
    high_samples: int = 300
    high_iterations: int = 10
    low_samples: int = 300
    low_iterations: int = 30
    low_horizon: int = 5
    goal_weight: float = 0.0
    """Level 1 adds this times the closest approach to the goal to that to the subgoal."""
    threads: int = 1
    level2: Path | None = None
    """Reuse a trained level 2 (out/level2.pt of an earlier run) instead of training one."""
    split: Literal["validation", "test"] = "validation"
    """Which tasks ``--tasks`` and ``--seed`` are (recorded in the rows)."""
    write: bool = False
    """Put the rows into <out_dir>/hierarchy_test.json (env 'pusht'; other envs' rows are kept)."""
    reuse: bool = False
    """Read the rows of an earlier run (out/report.json) instead of planning again (with --write)."""
    out_dir: Path = RESULTS_DIR


def encode_frames(model, frames: np.ndarray, states: np.ndarray, proprio) -> torch.Tensor:
    """Stored frames ``(M, C, H, W)`` uint8 and their true states ``(M, S)`` (for the proprioception the model
    sees, when it sees any) -> the model's states ``(M, D)``."""
    p = None if proprio is None else proprio(states).astype(np.float32)
    return encode_observation(model, PixelObservation(frames, p))


class OracleSubgoals(LatentMPC):
    """A diagnostic, not a controller of the project: the flat controller aiming at the expert trajectory's
    own frame ``every`` environment steps ahead of the elapsed time (the goal once that passes it), i.e.
    perfect subgoals from the trajectory the task was cut from (privileged). It separates level 2's error
    from level 1's: if these subgoals do not beat flat planning, no level 2 can."""

    def __init__(self, *args, expert: Trajectories, every: int, goal_steps: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.expert, self.every, self.goal_steps = expert, every, goal_steps

    def reset(self, tasks) -> None:
        super().reset(tasks)
        episode, start = tasks.source_episode.numpy(), tasks.source_step.numpy()
        self._targets = []
        for ahead in range(self.every, self.goal_steps + self.every, self.every):
            step = start + min(ahead, self.goal_steps)
            with torch.no_grad():
                self._targets.append(encode_frames(self.model, self.expert.frames[episode, step].numpy(),
                                                   self.expert.states[episode, step].numpy(), self.proprio))
        self._elapsed = 0

    def act(self, obs, rows):
        index = min(self._elapsed // self.every, len(self._targets) - 1)
        self._cost = self.base_cost.with_goal(self._targets[index])
        self._elapsed += self.frameskip
        return super().act(obs, rows)


def level1_states(model, data: Trajectories, proprio, frameskip: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's states every planner step ``(N, L+1, D)`` and the planner steps' actions ``(N, L, frameskip*A)``
    (scaled as in training: raw / action_scale is done by the caller)."""
    n, steps = data.actions.shape[:2]
    length = steps // frameskip
    at = torch.arange(length + 1) * frameskip
    frames = data.frames[:, at]  # (N, L+1, C, H, W)
    states = data.states[:, at].numpy()
    out = []
    with torch.no_grad():
        for i in range(0, n, 64):
            f = frames[i : i + 64].reshape(-1, *frames.shape[2:]).numpy()
            out.append(encode_frames(model, f, states[i : i + 64].reshape(-1, states.shape[-1]), proprio)
                       .reshape(-1, length + 1, model.state_dim))
    actions = data.actions[:, : length * frameskip].reshape(n, length, -1)
    return torch.cat(out), actions


def train_level2(config: Config, s1: torch.Tensor, actions: torch.Tensor, a1: int, generator: torch.Generator) -> tuple[HighLevelModel, dict]:
    k, w = config.macro_steps, config.window
    high = HighLevelModel(s1.shape[-1], config.state_dim, k, a1, config.latent_action_dim, 0, config.hidden, 3)
    n, length = actions.shape[:2]
    held = max(1, n // 20)  # the last 5% of episodes: held out
    weights = HighLevelLossWeights(kl=config.kl)
    train_config = HighLevelTrainConfig(steps=config.steps, batch_size=config.batch, window=w, lr=config.lr)
    optimizer = torch.optim.AdamW(high.parameters(), lr=config.lr, weight_decay=1e-4)
    offsets = torch.arange(w + 1) * k

    def batch(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start = torch.randint(0, length - w * k + 1, (len(rows),), generator=generator)
        idx = start[:, None] + offsets  # (B, w+1)
        states = s1[rows[:, None], idx]
        acts = actions[rows[:, None, None], start[:, None, None] + torch.arange(w * k).reshape(w, k)]  # (B, w, k, A1)
        return states, acts.reshape(len(rows), w, k * a1)

    log = []
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = config.lr * min(1.0, (step + 1) / 100) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / config.steps)))
        rows = torch.randint(0, n - held, (config.batch,), generator=generator)
        loss, terms, _ = high_level_loss(high, *batch(rows), weights, train_config, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(high.parameters(), 5.0)
        optimizer.step()
        if step % 500 == 0 or step == config.steps - 1:
            log.append({"step": step, **{k_: float(v) for k_, v in terms.items()}})
            print(log[-1], flush=True)
    high.eval()
    with torch.no_grad():  # held-out multi-step error against "nothing moves"
        states, acts = batch(torch.arange(n - held, n).repeat(8))
        s2 = high.abstract(states)
        predicted = high.rollout(s2[:, 0], high.encode_actions(acts)[0])
        error = (predicted[:, 1:] - s2[:, 1:]).pow(2).mean().item()
        still = (s2[:, :1] - s2[:, 1:]).pow(2).mean().item()
    return high, {"log": log, "heldout_prediction_error": error, "heldout_copy_error": still}


def main(config: Config) -> None:
    if config.reuse:
        report = json.loads((config.out / "report.json").read_text())
    else:
        report = measure(config)
    if config.write:
        write_rows(config, report)


def write_rows(config: Config, report: dict) -> Path:
    """The ``pusht`` rows of ``hierarchy_test.json`` from ``report``, beside the other envs' rows."""
    rows = [{"env": "pusht", "group": r["group"], "controller": r["controller"], "split": config.split,
             "episodes": r["episodes"], "success_rate": r["success_rate"], "stderr": stderr(r["success_rate"], r["episodes"]),
             "planning_seconds_per_episode": r["planning_seconds_per_episode"], "final_success_rate": r["final_success_rate"],
             "start_success_rate": r["start_success_rate"]} for r in report["results"]]
    path = Path(config.out_dir) / "hierarchy_test.json"
    old, kept_note = kept_rows(path, {"pusht"})
    old_notes = json.loads(path.read_text()).get("notes", "") if path.exists() else ""
    old_notes = old_notes.split(" Their notes: ", 1)[-1]  # an earlier --write's PushT part goes
    notes = (f"PushT rows (this command): level 1 = {config.run}, level 2 trained on its data ({config.train_data}); "
             f"tasks on the privileged expert's trajectories {config.tasks}, seed {config.seed}, goal d steps ahead, "
             f"2 d steps allowed; flat = CEM {config.low_samples} x {config.low_iterations}, horizon {config.low_horizon}; "
             f"hierarchical = level-2 CEM {config.high_samples} x {config.high_iterations} over {config.high_horizon} "
             f"macro steps of {config.macro_steps} planner steps, level 1 the flat CEM toward the subgoal + "
             f"{config.goal_weight} x the goal.{kept_note} Their notes: {old_notes}")
    columns = ["env", "group", "controller", "split", "episodes", "success_rate", "stderr", "planning_seconds_per_episode"]
    return write_result(config.out_dir, "hierarchy_test", "Hierarchy on test tasks: learned level 2, landmarks, flat (maze, PushT)",
                        "Same checkpoint, same tasks and planner budget for every controller of an env.", config, columns,
                        old + rows, notes=notes)


def measure(config: Config) -> dict:
    torch.set_num_threads(config.threads)
    config.out.mkdir(parents=True, exist_ok=True)
    stored = load_world_checkpoint(config.run / "checkpoints" / "world_model.pt", "gym")
    model, extra = stored.model.eval(), stored.extra
    frameskip, frame_stack = stored.config.frameskip, int(extra["frame_stack"])
    scale = np.asarray(extra["action_scale"], dtype=np.float64)
    functions = env_functions(extra["env"])
    proprio = functions.proprio if extra.get("proprio") else None
    generator = torch.Generator().manual_seed(0)
    report: dict = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}}

    a1 = model.action_dim
    if config.level2 is not None:
        high = torch.load(config.level2, weights_only=False)
    else:
        t0 = time.process_time()
        data = Trajectories.load(config.train_data)
        s1, actions = level1_states(model, data, proprio, frameskip)
        actions = (actions.reshape(*actions.shape[:2], frameskip, -1) / torch.as_tensor(scale, dtype=torch.float32)).reshape(actions.shape)
        del data
        high, fit = train_level2(config, s1, actions.float(), a1, generator)
        report["level2"] = {**fit, "cpu_seconds": time.process_time() - t0, "episodes": int(s1.shape[0])}
        torch.save(high, config.out / "level2.pt")

    expert = Trajectories.load(config.tasks)
    results = report.setdefault("results", [])
    for d in config.goals:
        tasks = sample_goal_tasks(expert, config.episodes, d, frame_stack, config.seed)
        budget = 2 * d
        for name in config.controllers:
            plan_gen = torch.Generator().manual_seed(config.seed)
            low = CEM(a1, -1.0, 1.0, samples=config.low_samples, elites=max(1, config.low_samples // 10),
                      iterations=config.low_iterations, init_std=1.0, min_std=0.05, momentum=0.1)
            if name in ("flat", "oracle-subgoals"):
                mpc = ModelPredictiveController(low, config.low_horizon, frameskip, plan_gen)
                cost = IntrinsicCost(squared=True, reduce_min=True)
                controller = (LatentMPC(model, mpc, cost, scale, frameskip, False, proprio) if name == "flat" else
                              OracleSubgoals(model, mpc, cost, scale, frameskip, False, proprio, expert=expert,
                                             every=config.macro_steps * frameskip, goal_steps=d))
            else:
                high_planner = CEM(high.latent_action_dim, -3.0, 3.0, samples=config.high_samples,
                                   elites=max(1, config.high_samples // 10), iterations=config.high_iterations,
                                   init_std=1.0, min_std=0.05, momentum=0.1)
                planner = HierarchicalPlanner(high_planner, low, config.high_horizon, config.low_horizon)
                controller = HierarchicalLatentMPC(model, high, planner, scale, frameskip, plan_gen, proprio,
                                                   config.goal_weight)
            batch = PixelEnvBatch(lambda: functions.make(int(extra["size"])), config.episodes, frame_stack)
            try:
                t0 = time.process_time()
                result = run_episodes(PixelWorld(batch, functions.success, functions.distances, proprio), controller,
                                      tasks, budget)
                cpu = time.process_time() - t0
            finally:
                batch.close()
            row = {"group": f"d={d}", "controller": name, "episodes": result.episodes,
                   "success_rate": float(result.success.float().mean()),
                   "final_success_rate": float(result.final_success.float().mean()),
                   "start_success_rate": float(result.start_success.float().mean()),
                   "planning_seconds_per_episode": result.planning_seconds / result.episodes, "cpu_seconds": cpu}
            results.append(row)
            print(row, flush=True)
            (config.out / "report.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main(tyro.cli(Config))
