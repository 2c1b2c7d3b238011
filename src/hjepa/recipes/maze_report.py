"""What the maze job leaves in its run directory: summary.json, report.md, training curves, the
executed paths and a GIF (shared by ``hjepa maze`` and the hierarchy benchmark)."""

from __future__ import annotations

import torch

from hjepa.recipes.episode_figures import episode_frames, plot_episode_paths
from hjepa.runs.gif import write_gif
from hjepa.runs.metrics import read_metrics
from hjepa.runs.plots import plot_training_curves
from hjepa.runs.report import markdown_table, write_report
from hjepa.runs.run_dir import RunDir


def controller_rows(results: dict) -> list[dict]:
    """One row per controller and distance in rooms (plus 'all')."""
    rows = []
    for label, (result, by_distance) in results.items():
        s = result.summary()
        rows.append({"controller": label, "rooms_apart": "all", "success_rate": s["success_rate"],
                     "episodes": int(s["episodes"]), "mean_steps_to_success": s["mean_steps_to_success"],
                     "planning_ms_per_step": s["planning_ms_per_step"],
                     "planning_seconds": s["planning_seconds"]})
        for rooms, (rate, count) in by_distance.items():
            rows.append({"controller": label, "rooms_apart": rooms, "success_rate": rate, "episodes": count})
    return rows


def write_maze_outputs(run: RunDir, job, env, tasks, results: dict, diagnostics: dict, timing: dict, data_source: str) -> dict:
    """Plots, GIF, summary.json and report.md; returns the summary."""
    main_label = next(iter(results))
    main = results[main_label][0]
    record = list(range(min(job.eval.record, len(tasks))))
    metrics_path = run.path("metrics.jsonl")
    metrics = read_metrics(metrics_path) if metrics_path.exists() else []
    keys = [k for k in ("loss/prediction", "loss/variance", "loss/inverse_dynamics", "level2/prediction",
                        "level2/kl", "level2/readout", "distance/loss") if any(k in m for m in metrics)]
    if keys:
        plot_training_curves(metrics, keys, run.path("training_curves.png"))
    if record:
        plot_episode_paths(env, tasks, main, record, run.path("paths.png"))
        frames = episode_frames(env, tasks, main, record, stride=4)
        write_gif(list(frames), run.path("episodes.gif"), fps=15, scale=3)
    rows = controller_rows(results)
    summary = {
        "success_rate": main.success_rate,
        "episodes": main.episodes,
        "controller": main_label,
        "planning_ms_per_step": main.planning_ms_per_step,
        **timing,
        "world_model": diagnostics,
        "controllers": {label: {"success_rate": r.success_rate, "planning_seconds": r.planning_seconds,
                                "planning_ms_per_step": r.planning_ms_per_step,
                                "by_rooms_apart": {str(k): v[0] for k, v in by_d.items()}}
                        for label, (r, by_d) in results.items()},
    }
    run.write_json("summary.json", summary)
    sections = [
        ("Results", f"{len(tasks)} tasks from seed {job.eval.seed} (never used for data), start and goal "
         f"{job.eval.min_rooms}-{job.eval.max_rooms} rooms apart (doors on the shortest reliable path); success = "
         f"within {env.config.success_radius} px of the goal within {env.config.max_episode_steps} steps. Planning "
         f"time is the controllers' own (perception + planning), batched over the episodes, on "
         f"{torch.get_num_threads()} thread(s).\n\n" + markdown_table(rows, float_fmt=".3g")),
        ("World model on held-out data", (markdown_table([diagnostics], float_fmt=".3g") if diagnostics else
         "(models loaded from a checkpoint)") + "\n\nLevel 1: probe_rmse_px, rollout_rmse_px, pred_error_tk as in "
         "`hjepa two-rooms`. Level 2: l2_pred_error_tk (normalised error k macro steps ahead), l2_probe_rmse_px "
         "(linear probe of the position from s2), l2_kl_nats (information in a macro-action)."),
        ("Time", ", ".join(f"{k.replace('_seconds', '')} {v:.1f} s" for k, v in timing.items())),
        ("Files", "config.json, metrics.jsonl, checkpoints/hierarchy.pt, training_curves.png, paths.png, "
         f"episodes.gif, summary.json. Data: {data_source}."),
    ]
    write_report(run.path("report.md"), f"Maze: {job.name}", sections)
    run.publish_figures()
    return summary
