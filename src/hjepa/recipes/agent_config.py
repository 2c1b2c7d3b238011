"""Configuration of `hjepa agent train` and `hjepa agent run`: plain dataclasses turned into the CLI."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hjepa.agent.agent import AgentMode
from hjepa.agent.configurator import TaskName, TaskSpec, task_preset
from hjepa.errors import InputError, check_seed
from hjepa.recipes.run_options import RunOptions


@dataclass(frozen=True, kw_only=True)
class AgentOptions(RunOptions):
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

    def __post_init__(self) -> None:
        super().__post_init__()
        check_seed("eval_seed", self.eval_seed)

    def spec(self) -> TaskSpec:
        """The preset named by ``task`` with the given overrides applied (checked)."""
        overrides = {key: getattr(self, key) for key in ("planner", "horizon", "samples", "iterations", "zone",
                                                         "zone_weight", "room_term", "discount", "critic_weight", "unstick")
                     if getattr(self, key) is not None}
        return dataclasses.replace(task_preset(self.task), **overrides)


def check_options(prefix: str, options: object, at_least_1: tuple[str, ...] = (), at_least_0: tuple[str, ...] = (),
                  fractions: tuple[str, ...] = (), rates: tuple[str, ...] = ()) -> None:
    """Raise :class:`InputError` naming ``prefix.field`` for the first field of ``options`` out of its range."""
    for name in at_least_1 + at_least_0:
        value, low = getattr(options, name), 1 if name in at_least_1 else 0
        if value is not None and value < low:
            raise InputError(f"{prefix}.{name} must be >= {low}, got {value}")
    for name in fractions:
        if not 0.0 <= getattr(options, name) <= 1.0:
            raise InputError(f"{prefix}.{name} must be in [0, 1], got {getattr(options, name)}")
    for name in rates:
        if not (getattr(options, name) > 0 and math.isfinite(getattr(options, name))):
            raise InputError(f"{prefix}.{name} must be a positive finite number, got {getattr(options, name)}")


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

    def __post_init__(self) -> None:
        check_options("critic", self, at_least_1=("steps", "batch_size", "hidden", "layers", "members", "round_episodes",
                                                  "round_horizon"),
                      at_least_0=("rounds", "imagined_steps"), fractions=("hindsight", "imagined", "anchor"), rates=("lr",))
        if self.imagined > 0 and self.imagined_steps < 1:
            raise InputError(f"critic.imagined {self.imagined} needs critic.imagined_steps >= 1, got {self.imagined_steps}")


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

    def __post_init__(self) -> None:
        check_options("policy", self, at_least_1=("round_episodes", "fit_steps", "batch_size", "hidden", "layers",
                                                  "teacher_horizon", "teacher_iterations"),
                      at_least_0=("rounds",), rates=("lr",))


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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
