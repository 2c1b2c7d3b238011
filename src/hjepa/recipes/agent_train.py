"""`hjepa agent train`: the agent's learned parts for one task on one Two Rooms world model.

train — for one task (all on the same, frozen world model):
    1. collect: Mode-2 (the task's planner and horizon) acts; short-term memory stores every
       step (states, actions, each intrinsic term, done flags, goals), its actions as labels;
    2. critic: fit the critic on memory (Monte Carlo returns, hindsight goals, imagined states),
       then let a short-horizon planner *with* the critic act and store its episodes (its own
       mistakes are what the critic must learn to price), and refit; ``critic.rounds`` times;
    3. policy: DAgger — fit the Mode-1 policy on the labels, run it while Mode-2 (by default with
       the critic, horizon 8, 4 iterations) labels every visited state, aggregate, refit;
       ``policy.rounds`` times;
    4. save critic, policy and memory in ``checkpoints/``; evaluate Mode-1 on fresh episodes.

Writes ``<runs_root>/<name>/``: config.json, metrics.jsonl, summary.json, report.md, figures.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Annotated

import torch
import tyro

from hjepa.agent.checkpoints import critic_state, policy_state, save_learned
from hjepa.agent.critic import Critic
from hjepa.agent.critic_ensemble import CriticEnsemble
from hjepa.agent.critic_training import critic_error, mean_return, train_critic
from hjepa.agent.distill import dagger
from hjepa.agent.memory import ShortTermMemory, bootstrap_weights
from hjepa.agent.policy import GoalPolicy
from hjepa.errors import InputError
from hjepa.recipes.agent_config import AgentTrainJob
from hjepa.recipes.agent_report import write_train_report
from hjepa.recipes.agent_setup import build_agent, new_memory, play, prepare, with_horizon
from hjepa.recipes.run_options import open_run, resolve_device
from hjepa.runs.resume import ResumePoint


def run_agent_train(job: AgentTrainJob) -> dict:
    """The train job; returns the summary also written to ``summary.json``."""
    job = dataclasses.replace(job, device=str(resolve_device(job.device)))
    t_start = time.perf_counter()
    for name in ("collect_episodes", "memory_capacity"):
        if getattr(job, name) < 1:
            raise InputError(f"{name} must be >= 1, got {getattr(job, name)}")
    if job.critic.members < 1:
        raise InputError(f"critic.members must be >= 1, got {job.critic.members}")
    setup, config = prepare(job)
    run = open_run(job, "agent train", resolved=config.describe())
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)
    base = 1000 * (job.seed + 1)  # training episodes' seeds; evaluation uses job.eval_seed
    memory = new_memory(setup, config, job.memory_capacity)
    spec, dim, times = config.task, setup.perception.state_dim, {}
    point = ResumePoint(run, {"train": generator})
    stage, state, rng = (point.load() if job.resume else None) or (None, {}, {})

    # 1. Mode-2 experience ----------------------------------------------------------------------
    t0 = time.perf_counter()
    teacher = build_agent(setup, config, "mode2", job.seed)
    if stage is None:
        collected = play(setup, config, teacher, setup.configurator.sample_tasks(config, job.collect_episodes, base),
                         memory, label_own_actions=True, progress=job.progress, desc="collect (mode2)").summary()
        run.log({"phase": "collect", **collected}, step=0)
    else:  # resuming: memory and the records come back from the resume point
        memory = ShortTermMemory.from_state_dict(state["memory"])
        collected = state["collected"]
    times["collect_seconds"] = time.perf_counter() - t0

    # 2. critic --------------------------------------------------------------------------------
    t0 = time.perf_counter()
    c = job.critic
    scale = mean_return(memory, config.weights, spec.discount)
    members = [Critic(dim, dim, c.hidden, c.layers, scale).to(job.device) for _ in range(c.members)]
    critic = members[0] if c.members == 1 else CriticEnsemble(members)
    hindsight = c.hindsight if config.goal == "position" and c.method == "mc" else 0.0
    short = with_horizon(config, c.round_horizon)
    critic_rounds, fitted, first_round = [], 0, 0
    if stage is not None:
        critic.load_state_dict(state["critic"])
        critic_rounds, fitted = list(state["critic_rounds"]), int(state["fitted"])
        first_round = int(state["round"]) if stage == "critic" else c.rounds + 1
        if stage == "critic":
            point.restore_rng(rng)

    def save(stage: str, round_index: int, **more) -> None:
        point.save(stage, {"memory": memory.state_dict(), "collected": collected, "critic": critic.state_dict(),
                           "critic_rounds": critic_rounds, "fitted": fitted, "round": round_index, **more})

    for round_index in range(first_round, c.rounds + 1):
        save("critic", round_index)
        offset = fitted
        for k, member in enumerate(members):
            resample = bootstrap_weights(memory, generator) if c.bootstrap and c.members > 1 else None
            train_critic(
                member, memory, config.weights, spec.discount, c.method, c.steps, c.batch_size, c.lr,
                hindsight=hindsight, dynamics=teacher.dynamics, imagined=c.imagined, imagined_steps=c.imagined_steps,
                anchor=c.anchor if config.goal == "position" else 0.0, episode_weights=resample,
                generator=generator, progress=job.progress,
                log=lambda record, step, k=k: run.log(
                    {"phase": "critic", "critic_round": round_index, "critic_member": k, **record}, offset + step),
            )
        fitted += c.steps
        record = {"critic_round": round_index, **critic_error(critic, memory, config.weights, spec.discount)}
        if round_index < c.rounds:
            agent = build_agent(setup, short, "mode2", job.seed + 1 + round_index, critic=critic)
            tasks = setup.configurator.sample_tasks(config, c.round_episodes, base + 100 + round_index)
            result = play(setup, short, agent, tasks, memory, progress=job.progress,
                          desc=f"critic round {round_index + 1} (H={c.round_horizon})")
            record["round_success_rate"] = result.summary()["success_rate"]
        run.log({"phase": "critic_round", **record}, step=fitted)
        critic_rounds.append(record)
    times["critic_seconds"] = time.perf_counter() - t0

    # 3. policy (DAgger) -------------------------------------------------------------------------
    t0 = time.perf_counter()
    p = job.policy
    policy = GoalPolicy(dim, dim, 2, spec.max_action, p.hidden, p.layers, p.stochastic).to(job.device)
    student = build_agent(setup, config, "mode1", job.seed, policy=policy)
    teacher_spec = dataclasses.replace(spec, horizon=p.teacher_horizon or spec.horizon,
                                       iterations=p.teacher_iterations or spec.iterations, unstick=False)
    teacher_config = setup.configurator.configure(teacher_spec)

    first_dagger, dagger_history = 0, []
    if stage == "dagger":
        policy.load_state_dict(state["policy"])
        first_dagger, dagger_history = int(state["round"]), list(state["history"])
        point.restore_rng(rng)

    def collect(round_index: int) -> dict:
        tasks = setup.configurator.sample_tasks(config, p.round_episodes, base + 200 + round_index)
        labeller = build_agent(setup, teacher_config, "mode2", job.seed + 100 + round_index,
                               critic=critic if p.teacher_critic else None)
        result = play(setup, config, student, tasks, memory, teacher=labeller, teacher_label=p.label,
                      progress=job.progress, desc=f"dagger round {round_index}")
        summary = result.summary()
        return {"success_rate": summary["success_rate"], "teacher_gap": summary.get("teacher_gap", float("nan"))}

    rounds = dagger(policy, memory, collect, p.rounds, p.fit_steps, p.batch_size, p.lr, generator=generator,
                    log=lambda record, step: run.log({"phase": "dagger", **record}, step), progress=job.progress,
                    fresh=p.fresh, first_round=first_dagger, history=dagger_history,
                    checkpoint=lambda r, history: save("dagger", r, policy=policy.state_dict(), history=history))
    times["policy_seconds"] = time.perf_counter() - t0

    task_dict = dataclasses.asdict(spec)
    save_learned(run, critic_state(critic, c.hidden, c.layers, config.weights, spec.discount, task_dict),
                 policy_state(policy, p.hidden, p.layers, config.weights, task_dict), memory)

    # 4. evaluation of Mode-1 --------------------------------------------------------------------
    t0 = time.perf_counter()
    tasks = setup.configurator.sample_tasks(config, job.episodes, job.eval_seed)
    evaluation = play(setup, config, build_agent(setup, config, "mode1", job.seed, policy=policy), tasks,
                      record=job.record, progress=job.progress, desc="evaluate mode1")
    times["eval_seconds"] = time.perf_counter() - t0
    times["total_seconds"] = time.perf_counter() - t_start
    summary = {
        "task": job.task, "mode1": evaluation.summary(), "collect": collected,
        "critic_rounds": critic_rounds, "dagger_rounds": rounds, "memory_episodes": len(memory),
        "memory_transitions": memory.transitions(), "labels": int(memory.labelled()[0].shape[0]), **times,
    }
    run.write_json("summary.json", summary)
    write_train_report(run, job, config, setup, tasks, evaluation, summary)
    return summary


@dataclass(frozen=True)
class AgentTrainCommand:
    """Train the agent's learned parts for one task on a world model: collect Mode-2 experience into
    short-term memory, fit the critic, distill Mode-2 into the Mode-1 policy (DAgger)."""

    job: Annotated[AgentTrainJob, tyro.conf.arg(name="")]

    def run(self) -> dict:
        return run_agent_train(self.job)
