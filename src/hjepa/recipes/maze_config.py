"""Configuration of `hjepa maze`: plain dataclasses turned into the CLI by tyro."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hjepa.envs.maze import MazeConfig
from hjepa.envs.random_walk import check_walk_settings
from hjepa.errors import InputError, check_seed
from hjepa.planning.distance import check_guidance
from hjepa.recipes.run_options import RunOptions
from hjepa.world.build import WorldModelConfig
from hjepa.world.hierarchy_train import HighLevelLossWeights, HighLevelTrainConfig
from hjepa.world.objective import WorldModelLossWeights
from hjepa.world.temporal_distance import DistanceTrainConfig
from hjepa.world.train import TrainConfig

MAZE_WORLD_MODEL = WorldModelConfig(
    architecture="vector", obs_size=64, obs_pool=4, channels=(32, 64), state_dim=64, predictor_hidden=256,
    predictor_layers=3, frameskip=4,
)
"""Level 1: 64x64 frames pooled to 16x16, two stride-2 conv blocks, a 64-D state, an MLP predictor
over 4 environment steps (one fixed layout: the vector model is enough and cheap to plan with)."""


@dataclass(frozen=True)
class MazeDataConfig:
    """Reward-free exploration data."""

    episodes: int = 2000
    """Random-walk episodes."""
    steps: int = 400
    """Environment steps per episode (long: walks must pass through doors)."""
    kappa: float = 5.0
    """Von Mises concentration of the heading noise."""
    step_mean: float = 1.0
    """Mean step length (pixels)."""
    step_std: float = 0.4
    """Std of the step length (pixels)."""
    resample_on_block: float = 0.0
    """Probability of a new heading after a wall hit (0: keep pushing, which teaches walls)."""
    door_start_fraction: float = 0.3
    """Fraction of episodes starting inside a door opening."""
    heldout_episodes: int = 200
    """Extra episodes (seed + 1) for held-out diagnostics."""

    def __post_init__(self) -> None:
        for name in ("episodes", "steps", "heldout_episodes"):
            if getattr(self, name) < 1:
                raise InputError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        check_walk_settings(self.kappa, self.step_mean, self.step_std, self.resample_on_block, "data.")
        if not 0.0 <= self.door_start_fraction <= 1.0:
            raise InputError(f"data.door_start_fraction must be in [0, 1], got {self.door_start_fraction}")


@dataclass(frozen=True)
class Level2Config:
    """Architecture of level 2."""

    state_dim: int = 32
    """Dimension of the abstract state s2 (level 1 has 64)."""
    macro_steps: int = 4
    """k: level-1 steps per level-2 step (k * frameskip environment steps)."""
    latent_action_dim: int = 2
    """Dimension of the latent macro-action."""
    latent_dim: int = 0
    """Dimension of the latent variable z (0: none; the stochastic maze uses 1)."""
    hidden: int = 128
    """Width of the level-2 predictor and macro-action encoder."""
    layers: int = 3
    """Layers of the level-2 predictor."""

    def __post_init__(self) -> None:
        if self.macro_steps < 1:
            raise InputError(f"level2.macro_steps (k) must be >= 1, got {self.macro_steps}")
        for name in ("state_dim", "latent_action_dim", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise InputError(f"level2.{name} must be >= 1, got {getattr(self, name)}")
        if self.latent_dim < 0:
            raise InputError(f"level2.latent_dim must be >= 0, got {self.latent_dim}")


@dataclass(frozen=True)
class DistanceConfig:
    """Level 2's learned temporal distance (``plan.level2_search 'distance'``, hjepa.world.temporal_distance):
    its size, its training on the walks' level-2 states, and how the planners use it (hjepa.planning.distance)."""

    hidden: int = 128
    """Width of the distance MLP. On the maze's validation tasks (48 per group) 128 planned as well as 256
    (7-8 rooms: 87.5% against 85.4%) at 1.6x less planning time."""
    layers: int = 3
    """Layers of the distance MLP (>= 2)."""
    embed_dim: int = 0
    """0: an MLP on the pair of states; E > 0: the distance between E-dim embeddings of each state (cheaper to plan
    with, a metric; planned worse on the maze's validation tasks)."""
    train: DistanceTrainConfig = field(default_factory=DistanceTrainConfig)
    leak: float = 2.0
    """Level 2: penalty per macro step a predicted step takes beyond 'reach' by the distance (a step through a wall)."""
    reach: float = 1.0
    """Level 2: macro steps a predicted step may take by the distance before it counts as a leak."""
    goal_weight: float = 0.3
    """Level 1: weight of the approach to the goal beside the approach to the subgoal (both in the learned distance)."""
    radius: float = 1.5
    """Level 1 aims at the goal itself once the distance puts it within this many macro steps."""
    flat_horizon: int = 8
    """Horizon of the 'flat (distance)' baseline (MPPI with the distance to the goal as its cost). Chosen on the
    maze's validation tasks: 8 steps 71-77% at 7-8 rooms, 40 steps (the flat planner's) 0%: imagined 40-step
    rollouts drift through walls, where the distance is meaningless."""

    def __post_init__(self) -> None:
        if self.flat_horizon < 1:
            raise InputError(f"distance.flat_horizon must be >= 1, got {self.flat_horizon}")
        if self.hidden < 1 or self.layers < 2 or self.embed_dim < 0:
            raise InputError(f"distance.hidden must be >= 1, distance.layers >= 2 and distance.embed_dim >= 0, got "
                             f"{self.hidden}, {self.layers}, {self.embed_dim}")
        check_guidance(self.leak, self.reach, self.goal_weight, self.radius, prefix="distance.")


@dataclass(frozen=True)
class MazePlanConfig:
    """Planning settings of both planners (MPPI budgets are shared: equal samples x iterations)."""

    max_action: float = 1.2
    """Largest action norm the planners use (pixels per step)."""
    samples: int = 64
    """MPPI samples per iteration (level 1 of the hierarchy and the flat planner)."""
    iterations: int = 2
    """MPPI iterations per decision."""
    low_horizon: int = 8
    """Level-1 horizon of the hierarchical planner (predictor steps)."""
    flat_horizon: int = 40
    """Horizon of the flat planner (predictor steps; 40 x 4 = 160 environment steps)."""
    high_horizon: int = 10
    """Level-2 horizon (macro steps)."""
    beam: int = 32
    """Spread-search frontier per problem at level 2."""
    keep_best: int = 8
    """Lowest-cost plans kept in the frontier (the rest spread out)."""
    prefer_shorter: float = 0.05
    """Spread search returns the shortest plan within this relative cost of the best."""
    speeds: tuple[float, ...] = (1.2, 0.6)
    """Macro-action vocabulary: 8 held directions at each of these speeds, encoded by level 2."""
    replan_every: int = 2
    """Level-1 decisions between level-2 plans."""
    z_mode: Literal["mean", "expected", "worst", "inferred"] = "mean"
    """With a latent at level 2: plan with z = 0, score plans by expected / worst cost over draws, or by the cost
    expected under the episode's posterior over those draws, inferred online from the macro steps it made."""
    z_draws: int = 8
    """Draws of z for 'expected', 'worst' and 'inferred'."""
    z_temperature: float = 0.1
    """'inferred' only: temperature of the posterior over the draws (level 2's prediction error per macro step).
    Chosen with z_decay on the stochastic maze's 36 validation tasks (0.02 / 0.1 / 0.5 tried; hierarchy_targets.md)."""
    z_decay: float = 0.9
    """'inferred' only: the posterior's evidence fades by this factor per macro step seen (1: the whole episode counts;
    then ordinary motion hands the weight to z near its mean)."""
    level2_search: Literal["distance", "spread", "landmarks"] = "distance"
    """Level 2 plans by spread search over the learned level-2 predictor, scored by a learned temporal distance
    ('distance', section distance.*) or by squared distance to the goal ('spread'), or on a landmark graph of the
    walks' level-2 states whose edges are the macro steps the walks made ('landmarks', hjepa.planning.landmarks)."""
    distance_horizon: int = 1
    """Level-2 horizon (macro steps) with 'distance': the distance carries the rest of the way."""
    landmarks: int = 400
    """Landmarks of the graph (farthest-point sampled level-2 states of the walks)."""
    landmark_min_count: int = 3
    """Macro steps between two landmarks the walks must make for an edge."""
    landmark_max_ratio: float = 0.8
    """A walk's macro step counts for an edge only if both its ends are at most this fraction of the distance
    to their second nearest landmark (states between two landmarks, e.g. by a wall, are ambiguous)."""
    landmark_walks: int = 2000
    """Walks of the dataset the graph is built from (at most data.episodes)."""
    landmark_horizon: int = 48
    """Hops of a landmark plan (enough to cross the maze)."""
    unstick: bool = True
    """Both controllers: when an action the model predicted to move the agent did not (a wall's or door's edge
    the model lets it pass), take one random action of full norm and plan afresh (hjepa.control.unstick). Measured on
    the landmark hierarchy's 1-2-room tasks: 83% -> 100%, both failures had stood still against an edge."""

    def __post_init__(self) -> None:
        for name in ("samples", "iterations", "low_horizon", "flat_horizon", "high_horizon", "beam", "replan_every", "z_draws",
                     "distance_horizon",
                     "landmark_min_count", "landmark_walks", "landmark_horizon"):
            if getattr(self, name) < 1:
                raise InputError(f"plan.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.landmark_max_ratio <= 1:
            raise InputError(f"plan.landmark_max_ratio must be in (0, 1], got {self.landmark_max_ratio}")
        if self.landmarks < 2:
            raise InputError(f"plan.landmarks must be >= 2, got {self.landmarks}")
        if self.samples < 4:
            raise InputError(f"plan.samples must be >= 4, got {self.samples}")
        if not 0 <= self.keep_best <= self.beam:
            raise InputError(f"plan.keep_best must be in [0, plan.beam={self.beam}], got {self.keep_best}")
        if not self.z_temperature > 0:
            raise InputError(f"plan.z_temperature must be > 0, got {self.z_temperature}")
        if not 0 < self.z_decay <= 1:
            raise InputError(f"plan.z_decay must be in (0, 1], got {self.z_decay}")
        if not self.max_action > 0 or not self.speeds or min(self.speeds) <= 0:
            raise InputError("plan.max_action and plan.speeds must be positive")


@dataclass(frozen=True)
class MazeEvalConfig:
    """Evaluation episodes."""

    episodes: int = 48
    """Tasks per controller (start and goal min_rooms..max_rooms doors apart)."""
    min_rooms: int = 1
    """Smallest start-goal distance in rooms."""
    max_rooms: int = 8
    """Largest start-goal distance in rooms."""
    seed: int = 10_000
    """Seed of the evaluation tasks (never used for data)."""
    flat_baseline: bool = True
    """Also evaluate flat planning (with the hierarchical planner)."""
    record: int = 4
    """Episodes drawn in the path plot and the GIF."""

    def __post_init__(self) -> None:
        if self.episodes < 1 or not 0 <= self.min_rooms <= self.max_rooms:
            raise InputError(f"need eval.episodes >= 1 and 0 <= eval.min_rooms <= eval.max_rooms, got "
                             f"{self.episodes}, {self.min_rooms}, {self.max_rooms}")
        check_seed("eval.seed", self.seed)


@dataclass(frozen=True, kw_only=True)
class MazeJob(RunOptions):
    """Collect maze walks, train a two-level JEPA world model, plan hierarchically (and flat), report."""

    name: str = "maze"
    """Run name: results go to <runs_root>/<name>/."""
    checkpoint: Path | None = None
    """Use this two-level checkpoint (runs/<name>/checkpoints/hierarchy.pt) instead of training."""
    hierarchical: bool = True
    """Plan with the hierarchical planner (else only the flat planner)."""
    env: MazeConfig = field(default_factory=MazeConfig)
    data: MazeDataConfig = field(default_factory=MazeDataConfig)
    model: WorldModelConfig = MAZE_WORLD_MODEL
    loss: WorldModelLossWeights = field(default_factory=WorldModelLossWeights)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=800, eval_every=400))
    level2: Level2Config = field(default_factory=Level2Config)
    level2_loss: HighLevelLossWeights = field(default_factory=HighLevelLossWeights)
    level2_train: HighLevelTrainConfig = field(default_factory=lambda: HighLevelTrainConfig(steps=6000))
    """Level 2 trains for 6000 steps (about 2.5 CPU-minutes): measured against 800, its position probe goes from
    6.3 to 2.2 px and its one-step error from 0.50 to 0.22 of the states' variance."""
    plan: MazePlanConfig = field(default_factory=MazePlanConfig)
    distance: DistanceConfig = field(default_factory=DistanceConfig)
    eval: MazeEvalConfig = field(default_factory=MazeEvalConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.plan.level2_search == "distance" and self.plan.z_mode != "mean":
            raise InputError(f"plan.level2_search 'distance' plans with z at its mean: use plan.z_mode 'mean' (got "
                             f"{self.plan.z_mode!r}) or plan.level2_search 'spread'")
        if self.plan.z_mode != "mean" and self.level2.latent_dim == 0:
            raise InputError(f"plan.z_mode {self.plan.z_mode!r} needs a latent at level 2: set level2.latent_dim >= 1")
        if self.model.obs_size != self.env.size:
            raise InputError(f"model.obs_size {self.model.obs_size} does not match the maze's {self.env.size} px")
        if self.train.steps is None:
            raise InputError("train.steps must be set")
        if self.plan.level2_search == "landmarks" and (self.env.layout != "fixed" or self.env.unreliable):
            raise InputError("plan.level2_search 'landmarks' remembers one maze: it needs env.layout 'fixed' and no "
                             "env.unreliable doors")
