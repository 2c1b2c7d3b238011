"""Where the demo's time goes: the world-model training step, a practice round's planning and the
evaluation's planning call, phase by phase, on this CPU kind (AVX2: fp32; AVX-512-BF16/AMX: bf16 on
the encoder where ``--precision auto`` picks it).

    python benchmarks/profile_demo.py                                        # this CPU, its default precision
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/profile_demo.py --suffix _avx2   # as an AVX2-only CPU

Phases of one training step (demo defaults: batch 128, windows of 8 predictor steps, 64x64 frames
pooled to 16x16, spatial model): ``sample`` (draw windows and render them), ``encode`` (the encoder
on B x 9 frames), ``rollout`` (the predictor, 8 steps), ``losses`` (prediction, VICReg, smoothness,
inverse dynamics), ``backward``, ``optimiser`` (clip + AdamW). Planning: one MPPI decision (64
samples x 2 iterations over 16 predictor steps) for a batch of episodes, split into ``encode`` and
``plan``; a practice round's call is the same at 256 tasks. Each phase's median over ``--steps``
repetitions after warm-up; the warm-up row (3 steps, not in the total) holds ``--compile``'s cost.

    python benchmarks/profile_demo.py --compile --suffix _compile            # torch.compile, measured both ways
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import tyro

from common import RESULTS_DIR, write_result
from hjepa.control.dynamics import learned_dynamics
from hjepa.control.plan_config import PlanConfig, make_planner
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.data.windows import RenderedFrames, WindowSampler
from hjepa.envs.tasks import sample_two_rooms_tasks
from hjepa.nn.precision import resolve_bf16
from hjepa.objectives.temporal import inverse_dynamics_loss, temporal_smoothness
from hjepa.objectives.vicreg import covariance_loss, variance_loss
from hjepa.recipes.collect import collect_walks
from hjepa.recipes.two_rooms_config import TwoRoomsJob, make_env
from hjepa.runs.machine import cpu_kind
from hjepa.world.build import build_world_model


@dataclass(frozen=True)
class Config:
    """Profile of the demo's hot loops."""

    steps: int = 20
    """Timed repetitions of each loop (after 3 warm-up ones)."""
    threads: int = 2
    """Torch threads."""
    precision: str = "auto"
    """auto (bf16 where the CPU has it natively), fp32 or bf16."""
    channels_last: bool = False
    """Run the convolutions in channels-last memory format."""
    plan_batch: int = 100
    """Episodes decided together in one planning call (the evaluation's batch)."""
    practice_batch: int = 256
    """Tasks decided together in a practice round's planning call (the demo's practice.tasks)."""
    compile: bool = False
    """torch.compile the encoder, predictor and inverse-dynamics head (in place); the warm-up row then
    holds the compilation."""
    predictor_hidden: int | None = None
    """The predictor's hidden channels (None: the demo's default)."""
    suffix: str = ""
    """Appended to the result name (e.g. _avx2)."""
    out_dir: Path = RESULTS_DIR


def timed(fn, clock: dict[str, list[float]], name: str):
    start = time.perf_counter()
    out = fn()
    clock.setdefault(name, []).append(time.perf_counter() - start)
    return out


def profiled_job(config: Config) -> TwoRoomsJob:
    """The demo's job, with ``config.predictor_hidden`` if given."""
    job = TwoRoomsJob()
    if config.predictor_hidden is None:
        return job
    return dataclasses.replace(job, model=dataclasses.replace(job.model, predictor_hidden=config.predictor_hidden))


def train_phases(config: Config, bf16: bool) -> dict[str, list[float]]:
    job = profiled_job(config)
    env = make_env(job)
    data = collect_walks(job, env, 0, 400)
    sampler = WindowSampler(data, RenderedFrames(env, data, job.model.obs_pool), job.train.window, job.model.frameskip)
    torch.manual_seed(0)
    model, idm = build_world_model(job.model)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.compile:
        compile_in_place(model.encoder, model.predictor, idm)
    params = [*model.parameters(), *idm.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    w = job.loss
    clock: dict[str, list[float]] = {}
    warm = time.perf_counter()
    for step in range(config.steps + 3):
        if step == 3:
            clock["warm-up (3 steps, not in the total)"] = [time.perf_counter() - warm]
        tick: dict[str, list[float]] = {} if step < 3 else clock
        batch = timed(lambda: sampler.sample(job.train.batch_size, generator), tick, "sample")
        obs = batch.obs.contiguous(memory_format=torch.channels_last) if config.channels_last and batch.obs.dim() == 4 else batch.obs

        def encode():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return model.encode(obs).float()

        states = timed(encode, tick, "encode")
        predicted = timed(lambda: model.rollout(states[:, 0], batch.actions), tick, "rollout")

        def losses():
            flat = states.reshape(-1, states.shape[-1])
            return (w.prediction * (predicted[:, 1:] - states[:, 1:]).pow(2).mean() + w.variance * variance_loss(flat)
                    + w.covariance * covariance_loss(flat) + w.smoothness * temporal_smoothness(states)
                    + w.inverse_dynamics * inverse_dynamics_loss(idm, states, batch.actions))

        loss = timed(losses, tick, "losses")
        optimizer.zero_grad(set_to_none=True)
        timed(loss.backward, tick, "backward")

        def optimise():
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            optimizer.step()

        timed(optimise, tick, "optimiser")
    return clock


def compile_in_place(*modules: torch.nn.Module) -> None:
    """``torch.compile`` each module's forward in place (its state_dict keys unchanged)."""
    for module in modules:
        module.compile()


def plan_phases(config: Config, bf16: bool, batch: int) -> dict[str, list[float]]:
    job = profiled_job(config)
    env = make_env(job)
    torch.manual_seed(0)
    model, _ = build_world_model(job.model)
    model.eval()
    if config.compile:
        compile_in_place(model.encoder, model.predictor)
    tasks = sample_two_rooms_tasks(env, batch, 1)
    plan = PlanConfig()
    planner = make_planner(plan, 2, min(plan.max_action, env.config.max_step))
    dynamics = learned_dynamics(model, job.model.frameskip, plan.max_action, bf16=bf16)
    clock: dict[str, list[float]] = {}
    with torch.no_grad():
        goal = model.encode(env.render(tasks.goal, tasks.layout))
        cost = IntrinsicCost(goal, squared=True, reduce_min=True)
        warm = time.perf_counter()
        for step in range(config.steps + 3):
            if step == 3:
                clock["warm-up (3 steps, not in the total)"] = [time.perf_counter() - warm]
            tick: dict[str, list[float]] = {} if step < 3 else clock
            frames = timed(lambda: env.render(tasks.start, tasks.layout), tick, "render")
            state = timed(lambda: model.encode(frames), tick, "encode")
            timed(lambda: planner.plan(state, dynamics, cost, plan.horizon, generator=torch.Generator().manual_seed(step)),
                  tick, "plan")
    return clock


def main(config: Config) -> Path:
    torch.set_num_threads(config.threads)
    bf16 = resolve_bf16(config.precision)
    rows = []
    loops = (("training step (batch 128)", lambda: train_phases(config, bf16)),
             (f"evaluation planning call ({config.plan_batch} episodes)", lambda: plan_phases(config, bf16, config.plan_batch)),
             (f"practice-round planning call ({config.practice_batch} tasks)",
              lambda: plan_phases(config, bf16, config.practice_batch)))
    for loop, measure in loops:
        clock = measure()
        total = sum(statistics.median(v) for k, v in clock.items() if not k.startswith("warm-up"))
        for phase, values in clock.items():
            ms = 1000 * statistics.median(values)
            share = None if phase.startswith("warm-up") else ms / (1000 * total)
            rows.append({"loop": loop, "phase": phase, "ms": ms, "share": share})
        rows.append({"loop": loop, "phase": "total", "ms": 1000 * total, "share": 1.0})
        print(f"{loop}: " + ", ".join(f"{r['phase']} {r['ms']:.1f} ms" for r in rows if r["loop"] == loop))
    return write_result(
        config.out_dir, f"profile_demo{config.suffix}",
        title="Where the demo's time goes: training step and planning call by phase",
        description=(f"Median of {config.steps} repetitions after warm-up, {config.threads} torch threads, CPU kind "
                     f"{cpu_kind()}, bf16 autocast on the encoder and predictor: {bf16}, channels_last: "
                     f"{config.channels_last}, torch.compile: {config.compile}, predictor hidden channels: "
                     f"{profiled_job(config).model.predictor_hidden}. Demo defaults (spatial world model, batch 128, "
                     "8-step windows, MPPI 64 x 2 "
                     "over 16 predictor steps)."),
        config=config, columns=["loop", "phase", "ms", "share"], rows=rows,
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
