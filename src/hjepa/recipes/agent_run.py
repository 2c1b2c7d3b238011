"""`hjepa agent run`: one task (reach, avoid, other-room) in one mode (mode1, mode2, mode2-warm),
optionally with the critic as terminal cost, on evaluation episodes drawn from a seed never used in
training; writes ``<runs_root>/<name>/``: config.json, metrics.jsonl, summary.json, report.md, figures."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import torch
import tyro

from hjepa.agent.checkpoints import load_critic, load_policy, save_learned
from hjepa.errors import InputError
from hjepa.recipes.agent_config import AgentRunJob
from hjepa.recipes.agent_report import write_run_report
from hjepa.recipes.agent_setup import build_agent, new_memory, play, prepare
from hjepa.recipes.run_options import open_run, resolve_device
from hjepa.runs.resume import ResumePoint


def run_agent(job: AgentRunJob) -> dict:
    """The run job; returns the summary also written to ``summary.json``."""
    job = dataclasses.replace(job, device=str(resolve_device(job.device)))
    t_start = time.perf_counter()
    setup, config = prepare(job)
    spec = config.task
    policy = critic = None
    if job.use_critic or job.mode in ("mode1", "mode2-warm"):
        if job.learned is None:
            need = "--use-critic" if job.use_critic else f"--mode {job.mode}"
            raise InputError(f"{need} needs --learned runs/<name> from `hjepa agent train`")
        learned = Path(job.learned) / "checkpoints"
        if job.mode in ("mode1", "mode2-warm"):
            policy = load_policy(learned / "policy.pt", config.weights).to(job.device)
        if job.use_critic:
            critic = load_critic(learned / "critic.pt", config.weights, spec.discount).to(job.device)
    if job.mode == "mode1" and job.use_critic:
        raise InputError("--use-critic plans with the critic: it needs --mode mode2 or mode2-warm")
    run = open_run(job, "agent run", resolved=config.describe())
    if job.resume:  # nothing to continue inside one evaluation: it runs again, the metrics log from empty
        ResumePoint(run, {}).load()
    torch.manual_seed(job.seed)
    memory = new_memory(setup, config, job.episodes)
    agent = build_agent(setup, config, job.mode, job.seed, policy=policy, critic=critic, policy_mean=job.policy_mean)
    tasks = setup.configurator.sample_tasks(config, job.episodes, job.eval_seed)
    result = play(setup, config, agent, tasks, memory, record=job.record, progress=job.progress,
                  desc=f"{job.task} ({job.mode})")
    for k, record in enumerate(result.trace):
        run.log(record, step=k)
    save_learned(run, None, None, memory)
    summary = {"task": job.task, "mode": job.mode, "use_critic": job.use_critic, "horizon": config.plan.horizon,
               **result.summary(), "total_seconds": time.perf_counter() - t_start}
    run.write_json("summary.json", summary)
    write_run_report(run, job, config, setup, tasks, result, summary)
    return summary


@dataclass(frozen=True)
class AgentRunCommand:
    """Run one task (reach, avoid, other-room) in one mode (mode1, mode2, mode2-warm) and report."""

    job: Annotated[AgentRunJob, tyro.conf.arg(name="")]

    def run(self) -> dict:
        return run_agent(self.job)
