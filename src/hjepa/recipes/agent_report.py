"""Reports of `hjepa agent` runs: report.md, paths.png (with the forbidden zone), episodes.gif,
training_curves.png."""

from __future__ import annotations

import torch

from hjepa.control.episodes import EpisodeResult
from hjepa.envs.tasks import Tasks
from hjepa.recipes.episode_figures import episode_frames, plot_episode_paths
from hjepa.runs.gif import write_gif
from hjepa.runs.metrics import read_metrics
from hjepa.runs.plots import plot_training_curves
from hjepa.runs.report import markdown_table, write_report
from hjepa.runs.run_dir import RunDir


def draw_episodes(run: RunDir, env, tasks: Tasks, result: EpisodeResult, record: int, zone) -> list[str]:
    """paths.png and episodes.gif of the first ``record`` episodes; the file names written."""
    episodes = list(range(min(record, result.episodes)))
    if not episodes:
        return []
    plot_episode_paths(env, tasks, result, episodes, run.path("paths.png"), zone=zone)
    write_gif(list(episode_frames(env, tasks, result, episodes, stride=2, zone=zone)), run.path("episodes.gif"), fps=15, scale=3)
    return ["paths.png", "episodes.gif"]


def _task_text(job, config) -> str:
    terms = ", ".join(f"{name} x {weight:g}" for name, weight in config.weights.items())
    zone = f"; forbidden zone {list(config.zone_box.as_tuple())} px (margin {config.zone.margin:g})" if config.zone else ""
    plan = config.plan
    return (f"Task `{job.task}` (goal: {config.goal}{zone}). Intrinsic cost terms: {terms}. Mode-2: {plan.planner.upper()} "
            f"{plan.samples} samples x {plan.iterations} iterations, horizon {plan.horizon}, discount {config.task.discount:g}.")


def _row(label: str, summary: dict) -> dict:
    return {"run": label, "success_rate": summary["success_rate"], "mean_steps": summary["mean_steps_to_success"],
            "violations_per_episode": summary["violations_per_episode"],
            "decide_ms_per_action": summary["decide_ms_per_action"], "ms_per_action": summary["ms_per_action"]}


def write_run_report(run: RunDir, job, config, setup, tasks: Tasks, result: EpisodeResult, summary: dict) -> None:
    files = draw_episodes(run, setup.env, tasks, result, job.record, config.zone_box)
    label = job.mode + (" + critic" if job.use_critic else "")
    terms = {k.removeprefix("term_"): v for k, v in summary.items() if k.startswith("term_")}
    sections = [
        ("Task", _task_text(job, config)),
        ("Results", f"{summary['episodes']:.0f} episodes (seed {job.eval_seed}), success within "
         f"{setup.env.config.max_episode_steps} steps. Time per action is per episode, the batch of episodes "
         "being decided in one call (decide: policy or planner; total: plus the encoder).\n\n"
         + markdown_table([_row(label, summary)], float_fmt=".3g")),
        ("Intrinsic cost paid", "Mean over episodes of each unweighted term summed over the episode's steps "
         "(also per decision in metrics.jsonl).\n\n" + markdown_table([terms], float_fmt=".4g")),
        ("Files", "config.json, metrics.jsonl, summary.json, checkpoints/memory.pt (short-term memory of these "
         "episodes)" + (", " + ", ".join(files) if files else "") + "."),
    ]
    write_report(run.path("report.md"), f"Agent: {job.name}", sections)
    run.publish_figures()


def write_train_report(run: RunDir, job, config, setup, tasks: Tasks, evaluation: EpisodeResult, summary: dict) -> None:
    files = draw_episodes(run, setup.env, tasks, evaluation, job.record, config.zone_box)
    metrics = read_metrics(run.path("metrics.jsonl"))
    keys = [k for k in ("critic_loss", "policy_loss") if any(k in m for m in metrics)]
    if keys:
        plot_training_curves(metrics, keys, run.path("training_curves.png"))
        files.append("training_curves.png")
    rounds = [{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in summary["critic_rounds"]]
    dagger = [{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in summary["dagger_rounds"]]
    sections = [
        ("Task", _task_text(job, config)),
        ("Collected by Mode-2", markdown_table([_row("mode2", summary["collect"])], float_fmt=".3g")),
        ("Critic", f"Method {job.critic.method}, hindsight {job.critic.hindsight:g}, imagined "
         f"{job.critic.imagined:g}; rounds act with horizon {job.critic.round_horizon} and the critic. Fit to the Monte "
         "Carlo returns of memory:\n\n" + markdown_table(rounds, float_fmt=".3g")),
        ("Policy (DAgger)", markdown_table(dagger, float_fmt=".3g")),
        ("Mode-1 on evaluation episodes", markdown_table([_row("mode1", summary["mode1"])], float_fmt=".3g")),
        ("Time", f"collect {summary['collect_seconds']:.0f} s, critic {summary['critic_seconds']:.0f} s, policy "
         f"{summary['policy_seconds']:.0f} s, evaluation {summary['eval_seconds']:.0f} s, total "
         f"{summary['total_seconds']:.0f} s on {torch.get_num_threads()} CPU threads."),
        ("Files", "config.json, metrics.jsonl, summary.json, checkpoints/critic.pt, checkpoints/policy.pt, "
         "checkpoints/memory.pt" + (", " + ", ".join(files) if files else "") + "."),
    ]
    write_report(run.path("report.md"), f"Agent training: {job.name}", sections)
    run.publish_figures()
