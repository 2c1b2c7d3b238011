"""The external-environment job: PushT, PointMaze, Pendulum or reacher from pixels, end to end.

Stages, as in ``hjepa two-rooms``:
    1. collect  — reward-free exploration (docs/environments.md) into ``hjepa.pixel_trajectories``
                  datasets: ``data/train`` and, from another seed, ``data/heldout``;
    2. train    — the JEPA world model of ``hjepa.world`` (encoder + action-conditioned predictor,
                  VICReg variance/covariance, smoothness, inverse dynamics) on frameskipped windows;
    3. evaluate — DINO-WM's goal-conditioned protocol (``hjepa.eval.goal_reaching``): goals are
                  the observations held-out episodes reach ``goal_steps`` later; MPC with CEM in
                  representation space, beside random actions and the episode's own actions;
    4. report   — ``config.json``, ``metrics.jsonl``, checkpoint, curves, a GIF, ``report.md``
                  and ``summary.json`` in ``runs/<name>/``, with wall-clock and CPU time per stage.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from hjepa.data.pixel_trajectories import PixelTrajectories
from hjepa.data.pixel_windows import PixelWindowSampler
from hjepa.envs.adapters.catalog import EnvFunctions, env_functions
from hjepa.pipelines.gym_config import (  # noqa: F401  (re-exported: the job's configuration)
    ENV_DEFAULTS, EnvDefaults, GymDataConfig, GymEvalConfig, GymJob, GymModelConfig, GymPlanConfig, resolve,
    world_model_config,
)
from hjepa.runs.run_dir import RunDir
from hjepa.world.build import WorldModelConfig, build_world_model

CHECKPOINT_FORMAT = "hjepa.gym.world_model/1"
CURVE_KEYS = ("loss/total", "loss/prediction", "loss/variance", "loss/inverse_dynamics", "eval/probe_r2",
              "eval/pred_error_t1", "eval/rollout_rmse_px", "eval/effective_rank", "lr")
"""The curves drawn in training_curves.png (every metric is in metrics.jsonl)."""


def exploration_policy(job: GymJob, spec):
    """The documented exploration policy of ``job.env``."""
    from hjepa.envs.exploration_gym import CorrelatedNoisePolicy, PushSeekingPolicy

    if job.env == "pusht":
        return PushSeekingPolicy(max_step=spec.action_high[0], push_prob=job.data.push_prob)
    return CorrelatedNoisePolicy(spec.action_low, spec.action_high, rho=job.data.rho, sigma=job.data.sigma)


def collect(job: GymJob, functions: EnvFunctions, episodes: int, seed: int) -> PixelTrajectories:
    """Reward-free episodes of ``job.env`` (single frames; stacking happens when sampling)."""
    from hjepa.envs.adapters.batch import PixelEnvBatch
    from hjepa.envs.exploration_gym import collect_pixel_episodes

    batch = PixelEnvBatch(lambda: functions.make(job.size), min(job.data.copies, episodes))
    try:
        policy = exploration_policy(job, batch.spec)
        arrays = collect_pixel_episodes(batch, policy, episodes, job.data.steps, seed, show_progress=job.progress)
        meta = {"env": batch.spec.to_dict(), "policy": policy.describe(), "seed": seed}
    finally:
        batch.close()
    return PixelTrajectories.from_arrays(arrays, meta)


class StageClock:
    """Wall-clock and process CPU seconds of one stage."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> dict[str, float]:
        return {"wall_seconds": time.perf_counter() - self.wall, "cpu_seconds": time.process_time() - self.cpu}


def save_gym_world_model(run: RunDir, job: GymJob, config: WorldModelConfig, model, inverse_dynamics, probe,
                         action_scale: np.ndarray) -> Path:
    """Checkpoint loadable with ``torch.load(..., weights_only=True)``."""
    return run.save_checkpoint("world_model", {
        "format": CHECKPOINT_FORMAT, "env": job.env, "size": job.size, "frame_stack": job.model.frame_stack,
        "action_scale": [float(v) for v in action_scale], "model_config": config.to_dict(),
        "model": model.state_dict(),
        "inverse_dynamics": inverse_dynamics.state_dict() if inverse_dynamics is not None else {},
        "probe": probe.state_dict() if probe is not None else {},
    })


def load_gym_world_model(path: Path, env: str):
    """``(model, config, frame_stack)`` from :func:`save_gym_world_model`'s checkpoint of ``env``."""
    from hjepa.runs.run_dir import load_checkpoint

    state = load_checkpoint(path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a gym world-model checkpoint (format {state.get('format')!r})")
    if state.get("env") != env:
        raise ValueError(f"{path} is a world model of {state.get('env')!r}, not of {env!r}")
    config = WorldModelConfig.from_dict(state["model_config"])
    model, _ = build_world_model(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not match the stored architecture: {error}") from error
    model.eval()
    return model, config, int(state["frame_stack"])


def make_planner(plan: GymPlanConfig, action_dim: int):
    """CEM or MPPI over scaled actions in ``[-1, 1]``."""
    from hjepa.planning.cem import CEM
    from hjepa.planning.mppi import MPPI

    if plan.planner == "cem":
        return CEM(action_dim, -1.0, 1.0, samples=plan.samples, elites=plan.elites, iterations=plan.iterations,
                   init_std=plan.init_std, min_std=0.05, momentum=0.1)
    return MPPI(action_dim, -1.0, 1.0, samples=plan.samples, iterations=plan.iterations, temperature=0.5,
                noise_std=plan.init_std, elites=plan.elites, adapt_std=True, min_std=0.05, max_std=1.0,
                normalize_costs=True)


def run_gym(job: GymJob, dataset_path: Path | None = None, checkpoint: Path | None = None) -> dict:
    """The whole job; returns the summary also written to ``runs/<name>/summary.json``.

    ``dataset_path`` is a data directory of an earlier run (holding ``train/`` and ``heldout/``)
    to reuse instead of collecting; ``checkpoint`` reuses a trained world model (no training).
    """
    from hjepa.agent.cost import IntrinsicCost
    from hjepa.agent.mpc import ModelPredictiveController
    from hjepa.envs.adapters.batch import PixelEnvBatch
    from hjepa.eval.goal_reaching import (
        LatentMPC, RandomActions, ReplayReference, evaluate_goal_reaching, random_state_tasks, sample_goal_tasks,
    )
    from hjepa.world.train import train_world_model

    t_start = time.perf_counter()
    job = resolve(job)
    if job.threads > 0:
        torch.set_num_threads(job.threads)
    functions = env_functions(job.env)
    # Inputs first: a missing package, dataset or checkpoint is refused before a run directory
    # exists (a half-made run would block re-running the same --name).
    probe_env = functions.make(job.size)
    spec = probe_env.spec
    probe_env.close()
    stored = None
    if dataset_path is not None:
        stored = (PixelTrajectories.load(Path(dataset_path) / "train"), PixelTrajectories.load(Path(dataset_path) / "heldout"))
        for part in stored:
            if part.meta.get("env", {}).get("name") != job.env:
                raise ValueError(f"{dataset_path} holds {part.meta.get('env', {}).get('name')!r} episodes, not {job.env!r}")
    stored_model = load_gym_world_model(checkpoint, job.env) if checkpoint is not None else None
    if stored_model is not None:
        job = dataclasses.replace(job, model=dataclasses.replace(job.model, frame_stack=stored_model[2],
                                                                 frameskip=stored_model[1].frameskip))
    run = RunDir.create(job.runs_root, job.run_name, overwrite=job.overwrite)
    run.write_config(job)
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)
    timings: dict[str, dict[str, float]] = {}

    # 1. data ---------------------------------------------------------------------------------
    clock = StageClock()
    if stored is not None:
        train_data, heldout = stored
        data_source = str(dataset_path)
    else:
        train_data = collect(job, functions, job.data.episodes, job.seed)
        heldout = collect(job, functions, job.data.heldout_episodes, job.seed + 1)
        train_data.save(run.path("data/train"))
        heldout.save(run.path("data/heldout"))
        data_source = str(run.path("data"))
    timings["data"] = clock.stop()

    # 2. world model --------------------------------------------------------------------------
    clock = StageClock()
    frame_stack, frameskip = job.model.frame_stack, job.model.frameskip
    action_scale = np.asarray(spec.action_high, dtype=np.float64)

    def sampler(data: PixelTrajectories) -> PixelWindowSampler:
        return PixelWindowSampler(data, job.train.window, frameskip, frame_stack, job.model.obs_pool,
                                  action_scale, functions.probe_targets)

    if stored_model is not None:
        from hjepa.world.diagnostics import world_model_diagnostics

        model, model_config, _ = stored_model
        diagnostics, probe = world_model_diagnostics(model, sampler(heldout), job.train.eval_windows,
                                                     torch.Generator().manual_seed(job.seed))
        train_steps = 0
    else:
        model_config = world_model_config(job.model, spec.obs_shape[0] * frame_stack, job.size, spec.action_dim)
        model, inverse_dynamics = build_world_model(model_config)
        result = train_world_model(model, inverse_dynamics, sampler(train_data), sampler(heldout), job.loss,
                                   job.train, generator, run=run, show_progress=job.progress)
        diagnostics, probe, train_steps = result.diagnostics, result.probe, result.steps
        save_gym_world_model(run, job, model_config, model, inverse_dynamics, probe, action_scale)
    timings["train"] = clock.stop()

    # 3. goal-conditioned planning --------------------------------------------------------------
    clock = StageClock()
    model.eval()
    batch = PixelEnvBatch(lambda: functions.make(job.size), job.eval.episodes, frame_stack)
    if job.eval.goal_source == "random_state":
        tasks = random_state_tasks(batch, job.eval.episodes, job.eval.seed)
    else:
        tasks = sample_goal_tasks(heldout, job.eval.episodes, job.eval.goal_steps, frame_stack, job.eval.seed)
    plan_dim = spec.action_dim * (1 if job.plan.hold else frameskip)
    mpc = ModelPredictiveController(make_planner(job.plan, plan_dim), job.plan.horizon, frameskip,
                                    torch.Generator().manual_seed(job.eval.seed))
    cost = IntrinsicCost(squared=True, reduce_min=job.plan.cost == "min")
    label = f"JEPA world model + {job.plan.planner.upper()}"
    controllers = {label: LatentMPC(model, mpc, cost, action_scale, frameskip, job.plan.hold)}
    if job.eval.baselines:
        controllers["random actions"] = RandomActions(np.asarray(spec.action_low), action_scale, frameskip, job.eval.seed + 1)
        if job.eval.goal_source == "dataset":
            controllers["held-out episode's own actions (open loop)"] = ReplayReference(frameskip)
    results = {}
    try:
        for name, controller in controllers.items():
            results[name] = evaluate_goal_reaching(
                batch, tasks, controller, frameskip, job.eval.budget_steps, functions.success, functions.distances,
                record=job.eval.record if name == label else 0, show_progress=job.progress,
            )
    finally:
        batch.close()
    timings["plan"] = clock.stop()

    # 4. report ---------------------------------------------------------------------------------
    from hjepa.runs.gif import write_gif
    from hjepa.runs.metrics import read_metrics
    from hjepa.runs.plots import plot_training_curves

    learned = results[label]
    metrics = read_metrics(run.path("metrics.jsonl")) if run.path("metrics.jsonl").exists() else []
    if metrics:
        keys = [k for k in CURVE_KEYS if any(k in record for record in metrics)]
        plot_training_curves(metrics, keys, run.path("training_curves.png"))
    if learned.frames:
        write_gif(learned.frames, run.path("episodes.gif"), fps=10, scale=2, ncols=4)
    rows = [{"controller": name, **res.summary()} for name, res in results.items()]
    summary = {
        "env": job.env, "env_id": spec.env_id,
        "success_rate": learned.summary()["success_rate"],
        "final_success_rate": learned.summary()["final_success_rate"],
        "start_success_rate": learned.summary()["start_success_rate"],
        "episodes": len(tasks),
        "planning_ms_per_step": learned.summary()["planning_ms_per_step"],
        "data_seconds": timings["data"]["wall_seconds"], "train_seconds": timings["train"]["wall_seconds"],
        "eval_seconds": timings["plan"]["wall_seconds"], "total_seconds": time.perf_counter() - t_start,
        "cpu_seconds": {stage: t["cpu_seconds"] for stage, t in timings.items()},
        "threads": torch.get_num_threads(), "train_steps": train_steps,
        "dataset_episodes": len(train_data), "heldout_episodes": len(heldout),
        "world_model": diagnostics, "controllers": {row["controller"]: row for row in rows},
    }
    run.write_json("summary.json", summary)
    write_gym_report(run, job, summary, rows, diagnostics, data_source)
    return summary


def write_gym_report(run: RunDir, job: GymJob, summary: dict, rows: list[dict], diagnostics: dict, data_source: str) -> None:
    from hjepa.runs.report import markdown_table, write_report

    cpu = summary["cpu_seconds"]
    timing = (
        f"CPU seconds (process time, {summary['threads']} torch thread(s)): data {cpu['data']:.0f}, training "
        f"{cpu['train']:.0f} ({summary['train_steps']} steps), planning evaluation {cpu['plan']:.0f}. Wall clock: "
        f"data {summary['data_seconds']:.0f} s, training {summary['train_seconds']:.0f} s, evaluation "
        f"{summary['eval_seconds']:.0f} s, total {summary['total_seconds']:.0f} s."
    )
    goals = (f"goals from held-out episodes (evaluation seed {job.eval.seed}): the goal is the observation the "
             f"episode reached {job.eval.goal_steps} steps after the start" if job.eval.goal_source == "dataset" else
             f"start and goal states drawn anywhere in free space at rest (DINO-WM's random_state, seed {job.eval.seed})")
    protocol = (
        f"{summary['episodes']} {goals}; {job.eval.budget_steps} "
        f"environment steps allowed, success checked every {job.model.frameskip} steps (success_rate) and at the "
        f"end (final_success_rate); start_success_rate: tasks already solved at the start. Planner: "
        f"{job.plan.planner.upper()} {job.plan.samples} samples x {job.plan.iterations} iterations, top "
        f"{job.plan.elites}, horizon {job.plan.horizon} x frameskip {job.model.frameskip}, cost '{job.plan.cost}'."
    )
    sections = [
        ("Results", protocol + "\n\n" + markdown_table(rows, float_fmt=".3g")
         + "\n\nplanning_ms_per_step: decision time per environment step for all episodes together (they are "
           "planned in one batch); median_final_*: distances to the goal state at the last step."),
        ("World model on held-out data", markdown_table([diagnostics], float_fmt=".3g")
         + "\n\nprobe_rmse_px / probe_r2: a linear probe of the environment's probe targets (true state "
           "quantities, in their own units, not pixels) from the representation; rollout_rmse_px: the probe on "
           "the state predicted a whole window ahead; pred_error_tk: normalised prediction error k steps ahead."),
        ("Time", timing),
        ("Files", f"config.json, metrics.jsonl, checkpoints/world_model.pt, training_curves.png, episodes.gif "
                  f"(each episode beside its goal), summary.json. Data: {data_source}."),
    ]
    write_report(run.path("report.md"), f"{summary['env_id']} from pixels: {job.run_name}", sections)
