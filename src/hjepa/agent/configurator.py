"""The configurator: a task spec becomes a configured agent on the one shared world model.

A :class:`TaskSpec` says what the agent should want (goal kind, cost terms and their weights, a
forbidden zone) and how hard it should think (planner, horizon, samples). :meth:`Configurator.configure`
checks it against the environment and resolves it into an :class:`AgentConfig` — plain data: the
named cost terms with their weights and regions, the planner settings. The configurator then builds
from it, for a batch of episodes, the intrinsic cost (:meth:`Configurator.episode_cost`) and the
planner. Switching task changes only this configuration: the world model, its probe and the
perception are the same objects for every task.

Three built-in tasks (:func:`task_preset`): ``reach`` a goal position, reach it while staying out of
a forbidden rectangle (``avoid``), and reach the ``other-room`` (any point of it).

"Any point of the other room" can be said two ways (``TaskSpec.room_term``):

- ``examples`` (default): a goal region in representation space — the goal term measures the
  distance to the nearest of the encoded observations of a grid of points covering the room;
- ``probe``: a region term on positions read from the state by the world model's linear probe
  (squared pixels outside the room's rectangle).

The probe version is the more literal one but plans badly with the Two Rooms world model: its
predictor lets a push into the dividing wall pass through it in imagination (the probe then reads
the predicted state as being in the other room), and the planner happily pushes into the wall
(about 55-60% success, against about 95% for the exemplar version; see docs/agent.md). Predicted
states that leak through the wall drift off the manifold of real encodings, so they are far from
every exemplar, and the representation-space goal is not fooled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hjepa.agent.tasks import GoalKind, room_box, sample_agent_tasks
from hjepa.control.perception import PixelPerception
from hjepa.control.plan_config import PlanConfig, make_planner
from hjepa.cost.intrinsic import IntrinsicCost
from hjepa.cost.per_problem import PerProblemCost
from hjepa.cost.regions import Box, RegionTerm
from hjepa.envs.tasks import Tasks
from hjepa.envs.two_rooms import TwoRooms
from hjepa.errors import InputError

TaskName = Literal["reach", "avoid", "other-room"]
DEFAULT_ZONE = (42.0, 22.0, 50.0, 42.0)
"""The ``avoid`` task's forbidden rectangle (x_min, y_min, x_max, y_max): right of the door, across
the straight way from the door to most goals of the right room (and from the right room to the door)."""


@dataclass(frozen=True)
class TaskSpec:
    """What the agent should do and how it plans; see :func:`task_preset` for the built-in tasks."""

    goal: GoalKind = "position"
    """Goal kind: 'position' (reach a goal position) or 'other-room' (reach any point of the other room)."""
    goal_weight: float = 1.0
    """Weight of the goal-distance term in representation space (the goal position, or for
    'other-room' with room_term='examples' the nearest encoded point of the room)."""
    action_weight: float = 0.0
    """Weight of the action-effort term (mean squared action norm)."""
    zone: tuple[float, float, float, float] | None = None
    """Forbidden rectangle (x_min, y_min, x_max, y_max) in pixels, or None."""
    zone_weight: float = 20.0
    """Weight of the forbidden-zone term (squared pixels of penetration)."""
    zone_margin: float = 2.0
    """Safety margin around the zone, in pixels (the probe and the model are not exact)."""
    room_term: Literal["examples", "probe"] = "examples"
    """How 'other-room' goals are measured: distance to the nearest of encoded example points of the
    room (representation space), or squared pixels outside the room read through the probe."""
    room_spacing: float = 6.0
    """Grid spacing in pixels of the room's example points (room_term='examples')."""
    room_weight: float = 1.0
    """Weight of the probe's room term (room_term='probe'; squared pixels outside the room)."""
    room_margin: float = 2.0
    """How far inside the target room the room term wants the agent, in pixels."""
    room_saturation: float | None = 5.0
    """Pixels from the room beyond which the room term flattens out (None: plain squared pixels,
    which pulls plans straight into the dividing wall)."""
    planner: Literal["mppi", "cem", "gradient"] = "mppi"
    """Mode-2 optimiser."""
    horizon: int = 16
    """Planner steps (each is frameskip environment steps with the action held)."""
    samples: int = 64
    """Candidate plans per iteration (MPPI/CEM) or restarts (gradient)."""
    iterations: int = 2
    """Optimiser iterations per decision."""
    elites: int = 16
    """Elite plans kept by MPPI/CEM (capped at samples)."""
    noise_std: float = 2.0
    """Initial sampling std of the actions (pixels per step)."""
    temperature: float = 0.5
    """MPPI temperature (on costs normalised by their spread)."""
    max_action: float = 2.0
    """Largest action component (pixels per step); also the policy's bound."""
    discount: float = 0.8
    """Discount per planner step of the critic's cost-to-go and of the critic's planning cost."""
    critic_weight: float = 1.0
    """Weight of the critic's terminal value when the agent plans with a critic."""
    unstick: bool = True
    """Mode-2 takes one random action when an action predicted to move the agent did not (a push
    into a wall the world model lets slide through), instead of repeating it forever."""

    def __post_init__(self) -> None:
        if self.room_term not in ("examples", "probe"):
            raise InputError(f"task room_term must be 'examples' or 'probe', got {self.room_term!r}")
        if not self.room_spacing > 0:
            raise InputError(f"task room_spacing must be > 0, got {self.room_spacing!r}")
        if self.room_saturation is not None and not 0 < self.room_saturation < float("inf"):
            raise InputError(f"task room_saturation must be a finite number > 0 or None, got {self.room_saturation!r}")
        if self.goal not in ("position", "other-room"):
            raise InputError(f"task goal must be 'position' or 'other-room', got {self.goal!r}")
        if self.planner not in ("mppi", "cem", "gradient"):
            raise InputError(f"task planner must be 'mppi', 'cem' or 'gradient', got {self.planner!r}")
        for name in ("goal_weight", "action_weight", "zone_weight", "zone_margin", "room_weight", "room_margin",
                     "critic_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and value != float("inf")):
                raise InputError(f"task {name} must be a finite number >= 0, got {value!r}")
        for name in ("horizon", "samples", "iterations", "elites"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"task {name} must be an int >= 1, got {value!r}")
        if self.planner != "gradient" and self.samples < 2:
            raise InputError(f"task samples must be >= 2 for {self.planner}, got {self.samples}")
        for name in ("noise_std", "temperature", "max_action"):
            if not getattr(self, name) > 0:
                raise InputError(f"task {name} must be > 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.discount < 1.0:
            raise InputError(f"task discount must be in [0, 1), got {self.discount}")
        if self.zone is not None:
            if len(self.zone) != 4:
                raise InputError(f"task zone must be (x_min, y_min, x_max, y_max), got {self.zone}")
            Box(*self.zone)  # raises on an empty or inverted rectangle
        if self.uses_goal_term and self.goal_weight == 0:
            raise InputError(f"a {self.goal!r} goal needs goal_weight > 0 (the goal term is the task)")
        if self.goal == "other-room" and self.room_term == "probe" and self.room_weight == 0:
            raise InputError("an 'other-room' goal with room_term='probe' needs room_weight > 0 (the room term is the task)")

    @property
    def uses_goal_term(self) -> bool:
        """Whether the goal term (representation space) measures the task."""
        return self.goal == "position" or self.room_term == "examples"


def task_preset(name: str) -> TaskSpec:
    """The built-in task ``reach``, ``avoid`` or ``other-room``."""
    match name:
        case "reach":
            return TaskSpec(goal="position")
        case "avoid":
            return TaskSpec(goal="position", zone=DEFAULT_ZONE)
        case "other-room":
            return TaskSpec(goal="other-room")
    raise InputError(f"unknown task {name!r}: choose reach, avoid or other-room")


@dataclass(frozen=True)
class AgentConfig:
    """A task resolved for one environment: plain data (see :meth:`Configurator.configure`).

    Attributes:
        task: the spec it came from.
        weights: every intrinsic term's name -> weight (what memory stores, the critic sums).
        zone: the forbidden-zone region term, or None.
        rooms: for 'other-room' goals with the probe's room term, that term when the target is the
            left / right room.
        room_boxes: for 'other-room' goals, the left and right rooms' free space.
        plan: Mode-2 planner settings.
    """

    task: TaskSpec
    weights: dict[str, float]
    zone: RegionTerm | None
    rooms: tuple[RegionTerm, RegionTerm] | None
    room_boxes: tuple[Box, Box] | None
    plan: PlanConfig

    @property
    def goal(self) -> GoalKind:
        return self.task.goal

    @property
    def zone_box(self) -> Box | None:
        """The true forbidden rectangle (without margin): what violations are counted against."""
        return None if self.zone is None else self.zone.box

    def describe(self) -> dict:
        """Plain data for config.json and reports."""
        return {
            "task": dataclasses.asdict(self.task), "weights": dict(self.weights),
            "zone": None if self.zone is None else self.zone.describe(),
            "rooms": None if self.rooms is None else [room.describe() for room in self.rooms],
            "plan": dataclasses.asdict(self.plan),
        }


class Configurator:
    """Turns task specs into configured agents' parts for one environment and world model.

    Args:
        env: the environment (its geometry places rooms and checks zones).
        perception: the shared encoder: goals and room examples are encoded observations.
        position_weight, position_bias: the frozen probe ``xy = s @ W + b`` (``(D, 2)``, ``(2,)``)
            that region terms read positions through; None allows only tasks without regions.
    """

    def __init__(self, env: TwoRooms, perception: PixelPerception, position_weight: Tensor | None,
                 position_bias: Tensor | None) -> None:
        self.env = env
        self.perception = perception
        self.position_weight = position_weight
        self.position_bias = position_bias

    def configure(self, spec: TaskSpec) -> AgentConfig:
        """Check ``spec`` against the environment and resolve its cost terms and planner."""
        cfg = self.env.config
        needs_probe = spec.zone is not None or (spec.goal == "other-room" and spec.room_term == "probe")
        if needs_probe and self.position_weight is None:
            raise InputError("this task has region terms, which need the world model's (x, y) probe; "
                             "the checkpoint has none")
        zone = None
        if spec.zone is not None:
            box = Box(*spec.zone)
            lo, hi = float(cfg.border), float(cfg.size - 1 - cfg.border)
            if box.x_max <= lo or box.x_min >= hi or box.y_max <= lo or box.y_min >= hi:
                raise InputError(f"task zone {spec.zone} lies outside the arena [{lo}, {hi}]^2")
            if box.x_min <= lo and box.x_max >= hi and box.y_min <= lo and box.y_max >= hi:
                raise InputError(f"task zone {spec.zone} covers the whole arena")
            zone = RegionTerm("zone", "avoid", box, spec.zone_weight, spec.zone_margin, reduce="max")
        rooms, room_boxes = None, None
        weights = {"goal": spec.goal_weight} if spec.uses_goal_term else {}
        weights["action"] = spec.action_weight
        if zone is not None:
            weights["zone"] = spec.zone_weight
        if spec.goal == "other-room":
            if not cfg.fixed_layout:
                raise InputError("'other-room' goals need the fixed layout (the rooms are those of the fixed "
                                 "wall); use a fixed-layout world model and environment")
            layout = self.env.sample_layout(1)
            room_boxes = (room_box(self.env, layout, 0), room_box(self.env, layout, 1))
        if spec.goal == "other-room" and spec.room_term == "probe":
            rooms = tuple(RegionTerm("room", "stay", room_box(self.env, layout, r), spec.room_weight,
                                     spec.room_margin, reduce="min", saturation=spec.room_saturation) for r in (0, 1))
            weights["room"] = spec.room_weight
        plan = PlanConfig(
            planner=spec.planner, horizon=spec.horizon, samples=spec.samples, iterations=spec.iterations,
            elites=min(spec.elites, spec.samples), noise_std=spec.noise_std, temperature=spec.temperature,
            min_over_horizon=True, max_action=spec.max_action,
            replan_every=1,  # the agent's own loop plans at every decision (hjepa.agent.episodes)
        )
        return AgentConfig(spec, weights, zone, rooms, room_boxes, plan)  # type: ignore[arg-type]

    def planner(self, config: AgentConfig):
        """The Mode-2 optimiser of ``config`` (bounded by the environment's step)."""
        return make_planner(config.plan, 2, min(config.plan.max_action, self.env.config.max_step))

    def sample_tasks(self, config: AgentConfig, n: int, seed: int) -> Tasks:
        """``n`` episodes of the task; starts and goals stay clear of the zone and its margin."""
        clearance = 0.0
        if config.zone is not None:
            clearance = config.zone.margin + self.env.config.success_radius + 1.0
        return sample_agent_tasks(self.env, config.goal, n, seed, config.zone_box, clearance)

    def room_examples(self, config: AgentConfig, room: int) -> Tensor:
        """Encoded observations ``(K, D)`` of a grid of points covering ``room`` (0 left, 1 right),
        ``room_margin`` pixels inside its walls and ``room_spacing`` pixels apart."""
        if config.room_boxes is None:
            raise InputError("this task has no rooms to give examples of")
        spec = config.task
        box = config.room_boxes[room].grown(-spec.room_margin)
        axes = []
        for lo, hi in ((box.x_min, box.x_max), (box.y_min, box.y_max)):
            count = max(2, int(torch.ceil(torch.tensor((hi - lo) / spec.room_spacing))) + 1)
            axes.append(torch.linspace(lo, hi, count))
        xs, ys = torch.meshgrid(axes[0], axes[1], indexing="ij")
        points = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)
        layout = self.env.sample_layout(points.shape[0])
        return self.perception(points, layout)

    def prepare(self, config: AgentConfig, tasks: Tasks) -> tuple[Tensor, IntrinsicCost | PerProblemCost]:
        """For a batch of episodes: the goal input ``(N, D)`` of policy and critic (the encoded goal,
        or the target room's encoded centre) and the episodes' intrinsic cost."""
        goal_states = self.perception(tasks.goal, tasks.layout)
        return goal_states, self.episode_cost(config, tasks, goal_states)

    def episode_cost(self, config: AgentConfig, tasks: Tasks, goal_states: Tensor) -> IntrinsicCost | PerProblemCost:
        """The intrinsic cost of a batch of episodes, goal states ``(N, D)`` (encoded goals)."""
        spec = config.task
        regions = [config.zone] if config.zone is not None else []
        common = dict(action_weight=spec.action_weight, squared=True, reduce_min=True,
                      position_weight=self.position_weight, position_bias=self.position_bias)
        if not regions and config.rooms is None:
            common.update(position_weight=None, position_bias=None)
        if config.goal == "position":
            return IntrinsicCost(goal_states, goal_weight=spec.goal_weight, regions=regions, **common)
        if spec.room_term == "examples":
            examples = torch.stack([self.room_examples(config, room) for room in (0, 1)])  # (2, K, D)
            goal_set = examples[tasks.target_room.clamp_min(0).to(examples.device)]  # (N, K, D)
            return IntrinsicCost(goal_weight=spec.goal_weight, goal_set=goal_set, regions=regions, **common)
        assert config.rooms is not None
        costs = [IntrinsicCost(None, goal_weight=0.0, regions=[*regions, room], **common) for room in config.rooms]
        return PerProblemCost(costs, tasks.target_room.clamp_min(0))
