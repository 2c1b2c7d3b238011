"""The outputs of `hjepa gym`: summary.json, report.md, training curves and a GIF of the first
episodes beside their goals."""

from __future__ import annotations

import time

import numpy as np
import torch

from hjepa.control.episodes import EpisodeResult
from hjepa.envs.tasks import Tasks
from hjepa.recipes.gym_config import GymJob
from hjepa.runs.gif import write_gif
from hjepa.runs.metrics import read_metrics
from hjepa.runs.plots import plot_training_curves
from hjepa.runs.report import markdown_table, write_report
from hjepa.runs.run_dir import RunDir

CURVE_KEYS = ("loss/total", "loss/prediction", "loss/variance", "loss/inverse_dynamics", "eval/probe_r2",
              "eval/pred_error_t1", "eval/rollout_rmse_px", "eval/effective_rank", "lr")
"""The curves drawn in training_curves.png (every metric is in metrics.jsonl)."""



def write_gym_outputs(run: RunDir, job: GymJob, spec, tasks: Tasks, results: dict[str, EpisodeResult], diagnostics: dict,
                      timings: dict[str, dict[str, float]], train_steps: int, dataset_episodes: int,
                      heldout_episodes: int, data_source: str, t_start: float, simulator_budget: dict | None = None,
                      processes: int = 1, practice: dict | None = None) -> dict:
    """Write every output file; returns the summary (also in summary.json). ``results``' first entry
    is the learned model's; ``simulator_budget`` (label, samples, iterations, elites) is the true-simulator
    planner's, when it ran. ``processes``: how many trained together under torchrun (``cpu_seconds``
    counts rank 0's process only)."""
    learned = next(iter(results.values()))
    metrics = read_metrics(run.path("metrics.jsonl")) if run.path("metrics.jsonl").exists() else []
    if metrics:
        keys = [k for k in CURVE_KEYS if any(k in record for record in metrics)]
        plot_training_curves(metrics, keys, run.path("training_curves.png"))
    if learned.frames:
        goals = tasks.goal_frames[:, -1].numpy()  # (N, C, H, W)
        videos = [np.concatenate([np.stack(v), np.repeat(goals[i][None], len(v), 0)], axis=-1).transpose(0, 2, 3, 1)
                  for i, v in enumerate(learned.frames)]  # (T, H, 2W, 3): the episode beside its goal
        write_gif(videos, run.path("episodes.gif"), fps=10, scale=2, ncols=4)
    rows = [{"controller": name, **res.summary()} for name, res in results.items()]
    s = learned.summary()
    summary = {
        "env": job.env, "env_id": spec.env_id,
        "success_rate": s["success_rate"], "final_success_rate": s["final_success_rate"],
        "start_success_rate": s["start_success_rate"], "episodes": len(tasks),
        "split": job.eval.split, "goal_source": job.eval.goal_source, "objective": job.objective,
        "expert_training_episodes": job.data.expert_episodes,
        "planning_ms_per_step": s["planning_ms_per_step"],
        "data_seconds": timings["data"]["wall_seconds"], "train_seconds": timings["train"]["wall_seconds"],
        "eval_seconds": timings["plan"]["wall_seconds"], "total_seconds": time.perf_counter() - t_start,
        "cpu_seconds": {stage: t["cpu_seconds"] for stage, t in timings.items()},
        "threads": torch.get_num_threads(), "processes": processes, "train_steps": train_steps,
        "dataset_episodes": dataset_episodes, "heldout_episodes": heldout_episodes,
        "world_model": diagnostics, "controllers": {row["controller"]: row for row in rows},
        "simulator_budget": simulator_budget, "practice": practice or {"rounds": 0},
    }
    run.write_json("summary.json", summary)
    write_gym_report(run, job, summary, rows, diagnostics, data_source)
    return summary


def write_gym_report(run: RunDir, job: GymJob, summary: dict, rows: list[dict], diagnostics: dict, data_source: str) -> None:
    cpu = summary["cpu_seconds"]
    timing = (
        f"CPU seconds (process time, {summary['threads']} torch thread(s)): data {cpu['data']:.0f}, training "
        f"{cpu['train']:.0f} ({summary['train_steps']} steps), planning evaluation {cpu['plan']:.0f}. Wall clock: "
        f"data {summary['data_seconds']:.0f} s, training {summary['train_seconds']:.0f} s, evaluation "
        f"{summary['eval_seconds']:.0f} s, total {summary['total_seconds']:.0f} s."
    )
    seed = f"{job.eval.split} tasks, evaluation seed {job.eval.seed}" + (" + 10000" if job.eval.split == "test" else "")
    goals = {
        "dataset": f"goals from held-out exploration episodes ({seed}): the goal is the observation the episode reached "
                   f"{job.eval.goal_steps} steps after the start",
        "expert": f"starts on expert trajectories of a privileged controller on the true state ({seed}; stable-worldmodel's "
                  f"protocol): the goal is the observation the trajectory reached {job.eval.goal_steps} steps later",
        "random_state": f"start and goal states drawn anywhere in free space at rest (DINO-WM's random_state, {seed})",
    }[job.eval.goal_source]
    trained = f"{summary['dataset_episodes']} training episodes" + (
        f" ({job.data.expert_episodes} of them expert episodes)" if job.data.expert_episodes else " (exploration only)")
    protocol = (
        f"{summary['episodes']} {goals}; world model trained on {trained} with the {job.objective} objective; "
        f"{job.eval.budget_steps} "
        f"environment steps allowed, success checked every {job.model.frameskip} steps (success_rate) and at the "
        f"end (final_success_rate); start_success_rate: tasks already solved at the start. Planner: "
        f"{job.plan.planner.upper()} {job.plan.samples} samples x {job.plan.iterations} iterations, top "
        f"{job.plan.elites}, horizon {job.plan.horizon} x frameskip {job.model.frameskip}, cost: "
        + ("closest approach over the horizon." if job.plan.min_over_horizon else "distance at the last step.")
    )
    budget = summary["simulator_budget"]
    if budget is not None:
        protocol += (
            f" '{budget['label']}': the same planner and cost aggregation on the true simulator ({budget['samples']} "
            f"samples x {budget['iterations']} iterations, top {budget['elites']}) from the true state, the cost the "
            "squared distance of the goal features (reacher: fingertip; PushT: agent and block pose) to the goal "
            "state's; it fails only where planning itself fails, so the gap to it is the world model's."
        )
    practice = summary["practice"]
    if practice["rounds"]:
        reached = ", ".join(f"{r:.0%}" for r in practice["plans_reaching_goal"])
        protocol += (
            f" Practice after training: {practice['rounds']} rounds of {practice['episodes'] // practice['rounds']} "
            f"episodes planned with {practice['planner']} toward goals on expert trajectories of a training seed, run "
            f"in the environment and trained on ({practice['steps'] // practice['rounds']} steps each; plans reaching "
            f"their goal before each round's training: {reached})."
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
    run.publish_figures()
