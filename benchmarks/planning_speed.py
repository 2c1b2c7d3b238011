"""Planning time per environment step of Mode-2 MPC on the learned world model.

Times ``ModelPredictiveController.act`` (``hjepa.control.mpc``) with ``learned_dynamics`` and an
``IntrinsicCost(squared=True, reduce_min=True)`` towards a goal state, for the MPPI, CEM and
gradient planners built by the pipeline's ``make_planner`` with its default ``PlanConfig``, for one
episode (B=1) and a batch of episodes (B=100), under ``torch.no_grad()`` as in evaluation. The
warm start is carried from decision to decision, as in an episode. One decision drives
``frameskip`` environment steps, so time per env step = time per decision / frameskip.

The world model has random weights (``build_world_model(WorldModelConfig())``) unless
``--checkpoint`` is given: the time does not depend on the weights. Target: <= 5 ms per env step
for one episode with MPPI defaults.

    python benchmarks/planning_speed.py
    python benchmarks/planning_speed.py --checkpoint runs/demo/checkpoints/world_model.pt
    python benchmarks/planning_speed.py --quick
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import torch
import tyro

from common import RESULTS_DIR, median, percentile, write_result
from hjepa.control.dynamics import learned_dynamics
from hjepa.control.mpc import ModelPredictiveController
from hjepa.control.plan_config import PlanConfig, make_planner
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.nn.precision import resolve_bf16
from hjepa.world.build import WorldModelConfig, build_world_model
from hjepa.world.checkpoint import load_world_checkpoint

TARGET_MS_PER_STEP = 5.0


@dataclass(frozen=True)
class Config:
    """Planning speed benchmark."""

    planners: tuple[Literal["mppi", "cem", "gradient"], ...] = ("mppi", "cem", "gradient")
    """Planners to time (each with the pipeline's default PlanConfig otherwise)."""
    batches: tuple[int, ...] = (1, 100)
    """Episodes planned together (B)."""
    decisions: int = 30
    """Timed decisions per (planner, B, replan_every)."""
    replan_every: tuple[int, ...] = (1,)
    """Decisions per plan to time (the pipeline's --plan.replan-every): with k > 1 the time of
    each cycle of k decisions (one plan, k - 1 followed actions) is divided by k * frameskip."""
    warmup: int = 5
    """Untimed decisions first."""
    checkpoint: Path | None = None
    """World-model checkpoint (default: random weights of WorldModelConfig())."""
    plan: PlanConfig = field(default_factory=PlanConfig)
    """Planner settings (planner is overridden by --planners)."""
    threads: int = 0
    """Torch CPU threads (0: torch's default)."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """bf16 autocast for the predictor, as the Two Rooms job plans ('auto': where the CPU has it)."""
    seed: int = 0
    quick: bool = False
    """Tiny sizes for a smoke test (B in (1, 4), 3 decisions, 1 warm-up)."""
    out_dir: Path = RESULTS_DIR
    """Where <script>.json is written."""


def time_decisions(mpc: ModelPredictiveController, states: torch.Tensor, dynamics, cost, warmup: int, decisions: int) -> list[float]:
    """Seconds of each timed ``mpc.act`` call; ``states (warmup + decisions, B, D)``."""
    times = []
    with torch.no_grad():
        for i, state in enumerate(states):
            start = time.perf_counter()
            mpc.act(state, dynamics, cost)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def main(config: Config) -> Path:
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    batches = (1, 4) if config.quick else config.batches
    decisions = 3 if config.quick else config.decisions
    warmup = 1 if config.quick else config.warmup
    if config.checkpoint is not None:
        stored = load_world_checkpoint(config.checkpoint, "two-rooms")
        model, model_config = stored.model, stored.config
    else:
        torch.manual_seed(config.seed)
        model_config = WorldModelConfig()
        model, _ = build_world_model(model_config)
    model.eval()
    frameskip = model_config.frameskip
    env = TwoRooms(TwoRoomsConfig())
    generator = torch.Generator().manual_seed(config.seed)

    rows = []
    for b in batches:
        # Real encoded observations: a start and a goal per episode, then small moves of the state.
        layout = env.sample_layout(b, generator)
        with torch.no_grad():
            start = model.encode(env.render(env.sample_in_room(layout, torch.zeros(b, dtype=torch.long), generator), layout))
            goal = model.encode(env.render(env.sample_in_room(layout, torch.ones(b, dtype=torch.long), generator), layout))
        longest = max(-(-warmup // k) * k for k in config.replan_every) + decisions
        drift = 0.01 * torch.randn(longest, *start.shape, generator=generator).cumsum(0)
        states = start.unsqueeze(0) + drift  # (decisions, B, D)
        cost = IntrinsicCost(squared=True, reduce_min=True).with_goal(goal)
        dynamics = learned_dynamics(model, frameskip, env.config.max_step, bf16=resolve_bf16(config.precision))
        for name, k in [(name, k) for name in config.planners for k in config.replan_every]:
            plan = replace(config.plan, planner=name, replan_every=k)
            mpc = ModelPredictiveController(make_planner(plan, 2, min(plan.max_action, env.config.max_step)), plan.horizon, frameskip,
                                            torch.Generator().manual_seed(config.seed), replan_every=k)
            mpc.reset(b)
            skip = -(-warmup // k) * k  # whole cycles: the first timed decision makes a plan
            times = time_decisions(mpc, states[: skip + decisions], dynamics, cost, skip, decisions)
            ms = [1e3 * sum(times[i:i + k]) / k for i in range(0, len(times) - k + 1, k)]  # per decision, by cycle
            per_step = median(ms) / frameskip
            rows.append({
                "planner": name, "B": b, "replan_every": k,
                "median_ms_per_env_step": per_step,
                "p90_ms_per_env_step": percentile(ms, 90) / frameskip,
                "median_ms_per_episode_step": per_step / b,
                "median_ms_per_decision": median(ms),
                "decisions": len(times),
                "target_5ms_met": (per_step <= TARGET_MS_PER_STEP) if b == 1 else None,
            })
    weights = str(config.checkpoint) if config.checkpoint else "random weights"
    return write_result(
        config.out_dir, "planning_speed", "Planning time per environment step",
        f"Time of ModelPredictiveController.act with learned_dynamics ({weights}, frameskip {frameskip}) and "
        f"IntrinsicCost(squared=True, reduce_min=True), pipeline PlanConfig defaults (horizon {config.plan.horizon}, "
        f"samples {config.plan.samples}, iterations {config.plan.iterations}), under torch.no_grad, warm start carried; "
        f"{warmup} warm-up decisions (rounded up to whole replanning cycles), then median and p90 over {decisions} "
        f"decisions (with replan_every k: over cycles of k decisions, each cycle's time / k), divided by frameskip. "
        f"B episodes are planned together; ms_per_episode_step divides by B too.",
        config,
        ["planner", "B", "replan_every", "median_ms_per_env_step", "p90_ms_per_env_step", "median_ms_per_episode_step",
         "median_ms_per_decision", "decisions", "target_5ms_met"],
        rows,
        notes=f"Target: <= {TARGET_MS_PER_STEP:g} ms per env step for one episode (B=1) with MPPI defaults.",
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
