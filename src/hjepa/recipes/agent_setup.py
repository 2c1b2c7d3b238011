"""What `hjepa agent train` and `hjepa agent run` share: the world model and the parts built around
it once (environment, perception, configurator), agents for a task, and playing episodes."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from hjepa.agent.agent import Agent, AgentMode
from hjepa.agent.configurator import AgentConfig, Configurator
from hjepa.agent.critic import Critic
from hjepa.agent.episodes import AgentController, run_agent_episodes
from hjepa.agent.memory import ShortTermMemory
from hjepa.agent.policy import GoalPolicy
from hjepa.control.dynamics import learned_dynamics
from hjepa.control.episodes import EpisodeResult
from hjepa.control.perception import PixelPerception
from hjepa.cost.regions import Box, position_map_from_probe
from hjepa.envs.tasks import Tasks
from hjepa.envs.two_rooms import TwoRooms, TwoRoomsConfig
from hjepa.errors import InputError
from hjepa.recipes.agent_config import AgentOptions
from hjepa.recipes.run_options import apply_threads, resolve_device
from hjepa.world.checkpoint import load_world_checkpoint


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
            raise InputError(f"cannot tell the world model's layout ({run_config} missing); pass --layout fixed or random")
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
        raise InputError(f"episodes must be >= 1, got {options.episodes}")
    stored = load_world_checkpoint(Path(options.checkpoint), "two-rooms")
    model, probe, model_config = stored.model.to(resolve_device(options.device)), stored.probe, stored.config
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


def play(setup: AgentSetup, config: AgentConfig, agent: Agent, tasks: Tasks, memory: ShortTermMemory | None = None,
         teacher: Agent | None = None, label_own_actions: bool = False, record: int = 0, progress: bool = False,
         desc: str = "episodes", violation_zone: Box | None = None,
         teacher_label: Literal["action", "consensus"] = "action") -> EpisodeResult:
    """Run ``agent`` on ``tasks`` with the task's cost; see :func:`~hjepa.agent.episodes.run_agent_episodes`.

    Violations are counted against the task's zone, or ``violation_zone`` when given (to count them
    for a task that does not know about the zone)."""
    goal_states, cost = setup.configurator.prepare(config, tasks)
    decoder = setup.probe.predict if setup.probe is not None else None
    controller = AgentController(agent, setup.perception, cost, goal_states, setup.frameskip, teacher=teacher,
                                 label_own_actions=label_own_actions, teacher_label=teacher_label,
                                 position_decoder=decoder, record=record)
    return run_agent_episodes(setup.env, controller, tasks, setup.max_steps, zone=violation_zone or config.zone_box,
                              memory=memory, progress=progress, desc=desc)


def new_memory(setup: AgentSetup, config: AgentConfig, capacity: int) -> ShortTermMemory:
    dim = setup.perception.state_dim
    return ShortTermMemory(capacity, setup.decisions, dim, dim, 2, list(config.weights))


def prepare(options: AgentOptions) -> tuple[AgentSetup, AgentConfig]:
    apply_threads(options.threads)
    setup = load_setup(options)
    return setup, setup.configurator.configure(options.spec())
