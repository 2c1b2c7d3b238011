"""The outputs of `hjepa two-rooms` and `hjepa evaluate`: summary.json, report.md, training curves,
the planned and executed paths and a GIF of the first episodes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import torch

from hjepa.control.episodes import EpisodeResult
from hjepa.envs.tasks import Tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.recipes.episode_figures import episode_frames, plot_episode_paths
from hjepa.recipes.two_rooms_config import TwoRoomsJob
from hjepa.runs.gif import write_gif
from hjepa.runs.metrics import read_metrics
from hjepa.runs.plots import plot_training_curves
from hjepa.runs.report import markdown_table, write_report
from hjepa.runs.run_dir import RunDir, atomic_write_text


def write_two_rooms_outputs(
    run: RunDir, job: TwoRoomsJob, env: TwoRooms, tasks: Tasks, results: dict[str, EpisodeResult], diagnostics: dict,
    timing: dict[str, float], train_steps: int, practice: dict, dataset_episodes: int, bf16: bool, data_source: str,
    protocol: dict | None = None,
) -> dict:
    """Write every output file; returns the summary (also in summary.json). ``results``' first entry
    is the learned model's; ``protocol`` describes the evaluation tasks (``{"protocol": ...}`` and, for
    stable-worldmodel's protocol, its split, seeds and expert)."""
    learned = next(iter(results.values()))
    record = list(range(min(job.eval.record, job.eval.episodes)))
    metrics = read_metrics(run.path("metrics.jsonl")) if run.path("metrics.jsonl").exists() else []
    if metrics:
        plot_training_curves(metrics, None, run.path("training_curves.png"))
    if record:
        plot_episode_paths(env, tasks, learned, record, run.path("paths.png"))
        write_gif(list(episode_frames(env, tasks, learned, record, stride=2)), run.path("episodes.gif"), fps=15, scale=3)
    rows = []
    for label, res in results.items():
        s = res.summary()
        rows.append({
            "controller": label,
            "success_rate": s["success_rate"],
            "final_success_rate": s["final_success_rate"],
            "mean_steps_to_success": s["mean_steps_to_success"],
            "median_final_distance_px": s["median_final_distance"],
            "planning_ms_per_step": s["planning_ms_per_step"],
        })
    summary = {
        **(protocol or {"protocol": "hjepa"}),
        "success_rate": learned.success_rate,
        "final_success_rate": float(learned.final_success.double().mean()),
        "start_success_rate": float(learned.start_success.double().mean()),
        "episodes": learned.episodes,
        "planning_ms_per_step": learned.planning_ms_per_step,
        "planning_ms_per_step_per_episode": learned.planning_ms_per_step_per_episode,
        **timing,
        "train_steps": train_steps,
        "practice": practice,
        "dataset_episodes": dataset_episodes,
        "layout": job.layout,
        "bf16": bf16,
        "world_model": diagnostics,
        "controllers": {row["controller"]: row for row in rows},
    }
    run.write_json("summary.json", summary)
    write_episodes_csv(run.path("episodes.csv"), tasks, results)
    write_two_rooms_report(run, job, summary, rows, diagnostics, data_source)
    return summary


EPISODE_COLUMNS = ["controller", "episode", "start_x", "start_y", "goal_x", "goal_y", "wall_x", "door_y", "success",
                   "steps_to_success", "final_success", "final_distance_px", "closest_px"]


def write_episodes_csv(path: Path, tasks: Tasks, results: dict[str, EpisodeResult]) -> None:
    """One row per (controller, episode): the task (start, goal, its layout's wall and door; empty without a
    layout), whether and when it succeeded, the final distance and the closest approach to the goal (pixels)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EPISODE_COLUMNS)
    layout = ([(int(w), f"{float(d):.2f}") for w, d in zip(tasks.layout.wall_x, tasks.layout.door_y)]
              if tasks.layout is not None else [("", "")] * len(tasks.start))
    for label, res in results.items():
        closest = (res.paths[..., :2].float() - tasks.goal[:, None, :2].float()).norm(dim=-1).amin(dim=1)  # (N,)
        final = res.final_distance["distance"]
        for i in range(res.episodes):
            writer.writerow([label, i, *(f"{float(v):.2f}" for v in (*tasks.start[i, :2], *tasks.goal[i, :2])), *layout[i],
                             int(res.success[i]), int(res.steps_to_success[i]), int(res.final_success[i]),
                             f"{float(final[i]):.2f}", f"{float(closest[i]):.2f}"])
    atomic_write_text(path, out.getvalue())


def write_two_rooms_report(run: RunDir, job: TwoRoomsJob, summary: dict, rows: list[dict], diagnostics: dict, data_source: str) -> None:
    practice = summary["practice"]
    practised = (
        f" including {practice['seconds']:.1f} s of practice ({practice['rounds']} rounds of "
        f"{practice['episodes'] // practice['rounds']} planned episodes and {practice['steps'] // practice['rounds']} steps)"
        if practice["rounds"] else ""
    )
    timing = (
        f"data {summary['data_seconds']:.1f} s, training {summary['train_seconds']:.1f} s "
        f"({summary['train_steps']} steps, bf16={summary['bf16']}){practised}, evaluation {summary['eval_seconds']:.1f} s, "
        f"total {summary['total_seconds']:.1f} s on {torch.get_num_threads()} CPU threads."
    )
    tasks = (f"{summary['episodes']} cross-room episodes ({job.layout} layouts, evaluation seed "
             f"{job.eval.seed}, never used for data), success = within {job.env.success_radius} px of the goal "
             f"within {job.env.max_episode_steps} steps")
    if summary["protocol"] == "stable-wm":
        tasks = (f"{summary['episodes']} {summary['split']} tasks on stable-worldmodel's protocol (seed {summary['task_seed']}): "
                 f"start on a trajectory of a privileged expert (true simulator + MPPI), goal its state {summary['goal_steps']} "
                 f"steps later; {summary['budget_steps']} steps, success = within {job.env.success_radius} px of the goal "
                 f"the first time (success_rate) and at the last step (final_success_rate)")
    sections = [
        ("Results", f"{tasks}. Planner: {job.plan.planner.upper()} {job.plan.samples} samples x "
         f"{job.plan.iterations} iterations over {job.plan.horizon} predictor steps of {job.model.frameskip} env steps, "
         f"a new plan every {job.plan.replan_every} decision(s); learned-model planning "
         f"{summary['planning_ms_per_step']:.1f} ms per env step for the episodes together, "
         f"{summary['planning_ms_per_step_per_episode']:.2f} ms per episode.\n\n" + markdown_table(rows, float_fmt=".3g")),
        ("World model on held-out data", markdown_table([diagnostics], float_fmt=".3g")
         + "\n\nprobe_rmse_px: linear probe of the agent's (x, y) from the state; rollout_rmse_px: the same probe "
           "on the state predicted a whole window ahead; pred_error_tk: normalised prediction error k steps ahead; "
           "push_*: pushed 16 px to the right open loop, how far the agent really moved (true) and how far the "
           "model says it moved (pred), in the open and against solid wall (see hjepa.eval.wall_push)."),
        *([("Practice", "Plans made by the model for practice tasks and executed open loop in the environment; "
            "the fraction that reached the goal, before each round's training (the model learns where its "
            "plans fooled it): " + ", ".join(f"{x:.0%}" for x in practice["plans_reaching_goal"]) + ".")]
          if practice["rounds"] else []),
        ("Time", timing),
        ("Files", f"config.json, metrics.jsonl, checkpoints/world_model.pt, training_curves.png, paths.png, "
         f"episodes.gif, summary.json, episodes.csv (one row per controller and episode). Data: {data_source}."),
    ]
    write_report(run.path("report.md"), f"Two Rooms: {job.name}", sections)
    run.publish_figures()
