"""`hjepa agent train` and `hjepa agent run`: the whole agent on one Two Rooms world model.

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

run — one task in one mode (mode1, mode2, mode2-warm), optionally with the critic as terminal
cost, on evaluation episodes drawn from a seed never used in training.

Both write ``<runs_root>/<name>/``: config.json, metrics.jsonl, summary.json, report.md, figures.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from hjepa.agent.agent import Agent, AgentMode
from hjepa.agent.checkpoints import critic_state, load_critic, load_policy, policy_state, save_learned
from hjepa.agent.configurator import AgentConfig, Configurator, TaskName, TaskSpec, task_preset
from hjepa.agent.critic import Critic
from hjepa.agent.critic_ensemble import CriticEnsemble
from hjepa.agent.critic_training import critic_error, mean_return, train_critic
from hjepa.agent.distill import dagger
from hjepa.agent.dynamics import learned_dynamics
from hjepa.agent.episodes import EpisodeResult, run_episodes
from hjepa.agent.memory import ShortTermMemory, bootstrap_weights
from hjepa.agent.perception import PixelPerception
from hjepa.agent.policy import GoalPolicy
from hjepa.agent.regions import Box, position_map_from_probe
from hjepa.agent.tasks import AgentTasks
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.pipelines.two_rooms import load_world_model
from hjepa.runs.run_dir import RunDir


@dataclass(frozen=True)
class AgentOptions:
    """What every `hjepa agent` job shares: the world model, the task and where the run goes."""

    checkpoint: Path
    """World-model checkpoint written by `hjepa two-rooms` (runs/<name>/checkpoints/world_model.pt)."""
    task: TaskName = "reach"
    """Built-in task: reach (a goal position), avoid (reach it, staying out of a zone), other-room."""
    planner: Literal["mppi", "cem", "gradient"] | None = None
    """Override the task's Mode-2 optimiser."""
    horizon: int | None = None
    """Override the planning horizon (planner steps)."""
    samples: int | None = None
    """Override the planner's samples per iteration."""
    iterations: int | None = None
    """Override the planner's iterations per decision."""
    zone: tuple[float, float, float, float] | None = None
    """Override the forbidden zone (x_min, y_min, x_max, y_max) in pixels (adds one to any task)."""
    zone_weight: float | None = None
    """Override the forbidden zone's weight."""
    room_term: Literal["examples", "probe"] | None = None
    """Override how 'other-room' goals are measured (representation-space examples, or the probe)."""
    discount: float | None = None
    """Override the discount per planner step of the critic."""
    critic_weight: float | None = None
    """Override the weight of the critic's terminal value."""
    unstick: bool | None = None
    """Override whether Mode-2 takes a random action when a predicted move did not happen."""
    layout: Literal["auto", "fixed", "random"] = "auto"
    """Layouts of the episodes; 'auto' reads the world model's run config (config.json beside checkpoints/)."""
    episodes: int = 50
    """Evaluation episodes."""
    eval_seed: int = 10_000
    """Seed of the evaluation episodes (never used for training)."""
    record: int = 8
    """Episodes drawn in paths.png and episodes.gif."""
    name: str = "agent"
    """Run name: results go to <runs_root>/<name>/."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    overwrite: bool = False
    """Replace an existing run of the same name (the old one is moved aside, never deleted)."""
    seed: int = 0
    """Seed of the planner, of training and of the training episodes: the same seed repeats the run."""
    threads: int = 0
    """Torch CPU threads (0: leave torch's default)."""
    device: str = "cpu"
    """Torch device of the world model, critic and policy ('cpu', 'cuda'...); env and memory stay on the CPU."""
    progress: bool = True
    """Show progress bars."""

    def spec(self) -> TaskSpec:
        """The preset named by ``task`` with the given overrides applied (checked)."""
        overrides = {key: getattr(self, key) for key in ("planner", "horizon", "samples", "iterations", "zone",
                                                         "zone_weight", "room_term", "discount", "critic_weight", "unstick")
                     if getattr(self, key) is not None}
        return dataclasses.replace(task_preset(self.task), **overrides)


@dataclass(frozen=True)
class CriticOptions:
    """Training of the critic from short-term memory."""

    method: Literal["mc", "td"] = "mc"
    """Targets: Monte Carlo returns of the stored episodes, or TD(0) with a target network."""
    steps: int = 2000
    """Optimiser steps per fit."""
    batch_size: int = 256
    """States per step."""
    lr: float = 1e-3
    """AdamW learning rate."""
    hidden: int = 256
    """Width of the critic's MLP."""
    layers: int = 3
    """Linear layers of the critic's MLP."""
    hindsight: float = 0.5
    """Fraction of each batch with hindsight goals (states reached later); 'position' goals only."""
    imagined: float = 0.5
    """Fraction of each batch whose state is the world model's prediction of it (what planning feeds the critic)."""
    imagined_steps: int = 4
    """Longest prediction of those states, in planner steps."""
    anchor: float = 0.1
    """Extra pairs per batch (fraction of it) whose goal is the state itself, with cost-to-go 0; 'position' goals only."""
    members: int = 3
    """Critics trained apart (own initialisation and minibatches) whose mean value plans."""
    bootstrap: bool = True
    """Each ensemble member fits its own bootstrap resample of the stored episodes (members > 1)."""
    rounds: int = 4
    """Rounds of: act with a short horizon and the critic, store, refit."""
    round_episodes: int = 100
    """Episodes per round."""
    round_horizon: int = 4
    """Planning horizon of the critic's own rounds."""


@dataclass(frozen=True)
class PolicyOptions:
    """Distillation of Mode-2 into the Mode-1 policy (DAgger)."""

    rounds: int = 6
    """DAgger rounds (the policy acts, Mode-2 labels the visited states)."""
    teacher_critic: bool = True
    """The labelling Mode-2 plans with the critic as terminal cost (its first action is then better
    determined: the discounted cost prefers getting there sooner, the closest approach does not)."""
    teacher_horizon: int | None = 8
    """Horizon of the labelling Mode-2 (None: the task's)."""
    teacher_iterations: int | None = 4
    """Planner iterations of the labelling Mode-2 (None: the task's)."""
    label: Literal["consensus", "action"] = "consensus"
    """Label with the teacher's search mean's first action (less noisy) or the action it would execute."""
    round_episodes: int = 100
    """Episodes per round."""
    fit_steps: int = 1500
    """Optimiser steps per fit."""
    batch_size: int = 256
    """Labelled states per step."""
    lr: float = 1e-3
    """AdamW learning rate."""
    hidden: int = 256
    """Width of the policy's MLP."""
    layers: int = 3
    """Linear layers of the policy's MLP."""
    fresh: bool = True
    """Fit a freshly initialised policy on all labels every round (as DAgger is published) instead of
    continuing from the last fit's weights."""
    stochastic: bool = True
    """Fit a Gaussian over the teacher's labels (mean and spread) and act by sampling it, instead of
    regressing their mean (a deterministic policy can push into a wall forever)."""


@dataclass(frozen=True)
class AgentTrainJob(AgentOptions):
    """Collect Mode-2 experience, train the critic and distill the Mode-1 policy for one task."""

    name: str = "agent-train"
    """Run name: results go to <runs_root>/<name>/."""
    collect_episodes: int = 100
    """Mode-2 episodes collected first (memory, critic data, behaviour-cloning labels)."""
    memory_capacity: int = 2000
    """Episodes short-term memory keeps (the oldest are dropped)."""
    critic: CriticOptions = field(default_factory=CriticOptions)
    policy: PolicyOptions = field(default_factory=PolicyOptions)


@dataclass(frozen=True)
class AgentRunJob(AgentOptions):
    """Run one task in one mode on evaluation episodes and report."""

    mode: AgentMode = "mode2"
    """mode1 (the policy), mode2 (planning), mode2-warm (planning initialised by the policy's rollout)."""
    learned: Path | None = None
    """Run directory of `hjepa agent train` whose checkpoints/critic.pt and policy.pt to use."""
    use_critic: bool = False
    """Plan with the critic as terminal cost (needs --learned)."""
    policy_mean: bool = False
    """Mode-1 acts with a stochastic policy's mean action instead of sampling it."""


# ------------------------------------------------------------------------------------ setup


@dataclass
class AgentSetup:
    """The task-independent parts, built once: environment, world model, perception, configurator."""

    env: TwoRooms
    model: torch.nn.Module
    probe: object | None
    frameskip: int
    perception: PixelPerception
    configurator: Configurator

    @property
    def max_steps(self) -> int:
        return self.env.config.max_episode_steps

    @property
    def decisions(self) -> int:
        return math.ceil(self.max_steps / self.frameskip)


def environment_config(options: AgentOptions) -> TwoRoomsConfig:
    """The world model's environment (from its run's config.json when present) with the layout asked for."""
    run_config = Path(options.checkpoint).resolve().parent.parent / "config.json"
    stored = json.loads(run_config.read_text()) if run_config.is_file() else None
    layout = options.layout
    if layout == "auto":
        if stored is None or stored.get("layout") not in ("fixed", "random"):
            raise ValueError(f"cannot tell the world model's layout ({run_config} missing); pass --layout fixed or random")
        layout = stored["layout"]
    values = dict(stored.get("env", {})) if stored else {}
    for key in ("wall_x_range", "door_y_range"):
        if key in values:
            values[key] = tuple(values[key])
    values = {k: v for k, v in values.items() if k in TwoRoomsConfig.__dataclass_fields__}
    values["fixed_layout"] = layout == "fixed"
    return TwoRoomsConfig(**values)


def load_setup(options: AgentOptions) -> AgentSetup:
    """Load the world model and build the parts every task shares."""
    if options.episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {options.episodes}")
    model, probe, model_config = load_world_model(Path(options.checkpoint))
    model.to(options.device)
    env = TwoRooms(environment_config(options))
    perception = PixelPerception(env, model)
    weight, bias = position_map_from_probe(probe) if probe is not None else (None, None)
    configurator = Configurator(env, perception, weight, bias)
    return AgentSetup(env, model, probe, model_config.frameskip, perception, configurator)


def build_agent(setup: AgentSetup, config: AgentConfig, mode: AgentMode, seed: int,
                policy: GoalPolicy | None = None, critic: Critic | None = None, policy_mean: bool = False) -> Agent:
    """An agent for ``config`` on the shared world model."""
    spec = config.task
    max_norm = min(spec.max_action, setup.env.config.max_step)
    dynamics = learned_dynamics(setup.model, setup.frameskip, max_norm)
    planner = setup.configurator.planner(config) if mode != "mode1" else None
    return Agent(dynamics, planner, config.plan.horizon, mode, max_norm, torch.Generator().manual_seed(seed),
                 policy=policy, critic=critic, discount=spec.discount, critic_weight=spec.critic_weight,
                 policy_mean=policy_mean, unstick=spec.unstick and mode != "mode1")


def with_horizon(config: AgentConfig, horizon: int) -> AgentConfig:
    """``config`` planning ``horizon`` steps ahead (and nothing else changed)."""
    task = dataclasses.replace(config.task, horizon=horizon)
    return dataclasses.replace(config, task=task, plan=dataclasses.replace(config.plan, horizon=horizon))


def play(setup: AgentSetup, config: AgentConfig, agent: Agent, tasks: AgentTasks, memory: ShortTermMemory | None = None,
         teacher: Agent | None = None, label_own_actions: bool = False, record: int = 0, progress: bool = False,
         desc: str = "episodes", violation_zone: Box | None = None,
         teacher_label: Literal["action", "consensus"] = "action") -> EpisodeResult:
    """Run ``agent`` on ``tasks`` with the task's cost; see :func:`~hjepa.agent.episodes.run_episodes`.

    Violations are counted against the task's zone, or ``violation_zone`` when given (to count them
    for a task that does not know about the zone)."""
    goal_states, cost = setup.configurator.prepare(config, tasks)
    decoder = setup.probe.predict if setup.probe is not None else None
    return run_episodes(setup.env, setup.perception, agent, tasks, cost, goal_states, setup.max_steps,
                        setup.frameskip, zone=violation_zone or config.zone_box, memory=memory, teacher=teacher,
                        label_own_actions=label_own_actions, teacher_label=teacher_label,
                        position_decoder=decoder, record=record, progress=progress, desc=desc)


def new_memory(setup: AgentSetup, config: AgentConfig, capacity: int) -> ShortTermMemory:
    dim = setup.perception.state_dim
    return ShortTermMemory(capacity, setup.decisions, dim, dim, 2, list(config.weights))


def _prepare(options: AgentOptions) -> tuple[AgentSetup, AgentConfig]:
    if options.threads > 0:
        torch.set_num_threads(options.threads)
    setup = load_setup(options)
    return setup, setup.configurator.configure(options.spec())


# ------------------------------------------------------------------------------------ train


def run_agent_train(job: AgentTrainJob) -> dict:
    """The train job; returns the summary also written to ``summary.json``."""
    from hjepa.agent.report import write_train_report

    t_start = time.perf_counter()
    for name in ("collect_episodes", "memory_capacity"):
        if getattr(job, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(job, name)}")
    if job.critic.members < 1:
        raise ValueError(f"critic.members must be >= 1, got {job.critic.members}")
    setup, config = _prepare(job)
    run = RunDir.create(job.runs_root, job.name, overwrite=job.overwrite)
    run.write_config({"job": job, "agent": config.describe()})
    torch.manual_seed(job.seed)
    generator = torch.Generator().manual_seed(job.seed)
    base = 1000 * (job.seed + 1)  # training episodes' seeds; evaluation uses job.eval_seed
    memory = new_memory(setup, config, job.memory_capacity)
    spec, dim, times = config.task, setup.perception.state_dim, {}

    # 1. Mode-2 experience ----------------------------------------------------------------------
    t0 = time.perf_counter()
    teacher = build_agent(setup, config, "mode2", job.seed)
    collected = play(setup, config, teacher, setup.configurator.sample_tasks(config, job.collect_episodes, base),
                     memory, label_own_actions=True, progress=job.progress, desc="collect (mode2)")
    run.log({"phase": "collect", **collected.summary()}, step=0)
    times["collect_seconds"] = time.perf_counter() - t0

    # 2. critic --------------------------------------------------------------------------------
    t0 = time.perf_counter()
    c = job.critic
    scale = mean_return(memory, config.weights, spec.discount)
    members = [Critic(dim, dim, c.hidden, c.layers, scale).to(job.device) for _ in range(c.members)]
    critic = members[0] if c.members == 1 else CriticEnsemble(members)
    hindsight = c.hindsight if config.goal == "position" and c.method == "mc" else 0.0
    short = with_horizon(config, c.round_horizon)
    critic_rounds, fitted = [], 0
    for round_index in range(c.rounds + 1):
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
                    fresh=p.fresh)
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
        "task": job.task, "mode1": evaluation.summary(), "collect": collected.summary(),
        "critic_rounds": critic_rounds, "dagger_rounds": rounds, "memory_episodes": len(memory),
        "memory_transitions": memory.transitions(), "labels": int(memory.labelled()[0].shape[0]), **times,
    }
    run.write_json("summary.json", summary)
    write_train_report(run, job, config, setup, tasks, evaluation, summary)
    return summary


# ------------------------------------------------------------------------------------ run


def run_agent(job: AgentRunJob) -> dict:
    """The run job; returns the summary also written to ``summary.json``."""
    from hjepa.agent.report import write_run_report

    t_start = time.perf_counter()
    setup, config = _prepare(job)
    spec = config.task
    policy = critic = None
    if job.use_critic or job.mode in ("mode1", "mode2-warm"):
        if job.learned is None:
            need = "--use-critic" if job.use_critic else f"--mode {job.mode}"
            raise ValueError(f"{need} needs --learned runs/<name> from `hjepa agent train`")
        learned = Path(job.learned) / "checkpoints"
        if job.mode in ("mode1", "mode2-warm"):
            policy = load_policy(learned / "policy.pt", config.weights).to(job.device)
        if job.use_critic:
            critic = load_critic(learned / "critic.pt", config.weights, spec.discount).to(job.device)
    if job.mode == "mode1" and job.use_critic:
        raise ValueError("--use-critic plans with the critic: it needs --mode mode2 or mode2-warm")
    run = RunDir.create(job.runs_root, job.name, overwrite=job.overwrite)
    run.write_config({"job": job, "agent": config.describe()})
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
