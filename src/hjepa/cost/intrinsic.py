"""The intrinsic cost: the hard-wired, immutable part of the agent's cost module.

In LeCun's architecture the cost module has two parts: a trainable critic and the intrinsic cost,
which is fixed by design (it defines what the agent wants and must not drift with learning). This
module is that fixed part. It has no parameters, only buffers, and refuses to be changed after
construction: a new goal means a new object (:meth:`IntrinsicCost.with_goal`).

Terms, each returned separately by :meth:`IntrinsicCost.terms` for logging:

- ``goal``: distance of the predicted representations to a goal representation (or to the nearest
  of a set of goal representations: a goal *region* given by examples), aggregated over
  the horizon by fixed per-step weights, by the minimum over steps, or by a soft-min.
  The minimum matters: summing the distance over steps makes "stay pressed against a wall near
  the goal" a local minimum, while the closest approach over the horizon lets a plan go around.
- ``action``: effort, the mean over steps of the squared action norm.
- region terms (:class:`~hjepa.cost.regions.RegionTerm`, e.g. ``zone``: stay out of a
  rectangle, ``room``: be inside a room), measured on positions read from the states by a frozen
  affine map (the world model's linear probe of ``(x, y)``, see
  :func:`~hjepa.cost.regions.position_map_from_probe`), in squared pixels.

Besides the trajectory cost (one number per plan), :meth:`IntrinsicCost.step_terms` gives the
per-step terms of each transition ``s_t -> s_{t+1}`` — what short-term memory stores and what the
critic learns to sum: ``c_t = sum_k w_k term_k(s_{t+1}, a_t)`` (:meth:`IntrinsicCost.step_cost`).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from hjepa.cost.regions import RegionTerm, check_position_map
from hjepa.errors import InputError


class IntrinsicCost(nn.Module):
    """Fixed trajectory cost ``(states, actions) -> (B, S)``, usable as a planner's cost.

    Args:
        goal: goal representation ``(B, *state_shape)`` (or ``(1, *state_shape)`` shared by all
            problems), or None to set it later with :meth:`with_goal`.
        goal_weight: weight of the goal term.
        action_weight: weight of the action-effort term.
        squared: squared L2 distance (default) or plain L2 distance to the goal.
        step_weights: ``(T+1,)`` weights of each step's distance, step 0 being the current state;
            None means final step only. Not allowed together with ``reduce_min``.
        reduce_min: aggregate the distance as its minimum over steps instead of a weighted sum.
        softmin_temperature: with ``reduce_min``, replace the hard minimum by the soft-min
            ``sum_t softmax(-d / tau)_t d_t`` (between the min and the mean; tends to the min as
            ``tau -> 0``), which gives gradient to every step. None = hard minimum.
        include_current: with ``reduce_min``, let step 0 (the current state, equal for every plan)
            take part in the minimum. Off by default: otherwise a plan that starts near the goal
            and walks away costs the same as one that stays.
        goal_set: ``(B, K, D)`` (or ``(1, K, D)``) representations of ``K`` acceptable goal states
            (e.g. encoded observations all over a room): the goal distance is the distance to the
            nearest of them. Exclusive with ``goal``; states must then be vectors ``(..., D)``.
        regions: region terms (distinct names), each with its own weight, box and reduction.
        position_weight, position_bias: the frozen map ``xy = state @ weight + bias`` with
            ``weight (D, 2)``, ``bias (2,)`` that region terms read positions through; required
            when ``regions`` is not empty.

    Shapes: ``states (B, S, T+1, *state_shape)`` (flattened to ``D``), ``actions (B, S, T, A)``.

    Example:
        >>> goal = torch.tensor([[1.0, 0.0]])                      # (B=1, D=2)
        >>> cost = IntrinsicCost(goal, action_weight=0.1, reduce_min=True)
        >>> states = torch.tensor([[[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]]])  # (1, 1, T+1=3, 2)
        >>> actions = torch.ones(1, 1, 2, 1)                        # (1, 1, T=2, A=1)
        >>> cost.terms(states, actions)["goal"]                     # min(1, 0) over steps 1..T
        tensor([[0.]])
        >>> cost(states, actions)                                   # 0 + 0.1 * 1
        tensor([[0.1000]])
        >>> other = cost.with_goal(torch.tensor([[2.0, 0.0]]))      # a new object
    """

    _frozen: bool

    def __init__(
        self,
        goal: Tensor | None = None,
        goal_weight: float = 1.0,
        action_weight: float = 0.0,
        squared: bool = True,
        step_weights: Tensor | None = None,
        reduce_min: bool = False,
        softmin_temperature: float | None = None,
        include_current: bool = False,
        goal_set: Tensor | None = None,
        regions: Sequence[RegionTerm] = (),
        position_weight: Tensor | None = None,
        position_bias: Tensor | None = None,
    ) -> None:
        object.__setattr__(self, "_frozen", False)
        super().__init__()
        if goal is not None:
            if not isinstance(goal, Tensor) or goal.dim() < 2:
                raise InputError(
                    "goal must be a Tensor (B, *state_shape) with a batch dim, got "
                    f"{tuple(goal.shape) if isinstance(goal, Tensor) else type(goal).__name__}"
                )
            if not torch.isfinite(goal).all():
                raise InputError("goal contains NaN or inf")
            goal = goal.detach().clone()
        if goal_set is not None:
            if goal is not None:
                raise InputError("give either goal or goal_set, not both")
            if not isinstance(goal_set, Tensor) or goal_set.dim() != 3 or min(goal_set.shape) < 1:
                raise InputError(
                    "goal_set must be a Tensor (B, K, D), got "
                    f"{tuple(goal_set.shape) if isinstance(goal_set, Tensor) else type(goal_set).__name__}"
                )
            if not torch.isfinite(goal_set).all():
                raise InputError("goal_set contains NaN or inf")
            goal_set = goal_set.detach().clone()
        if step_weights is not None:
            if reduce_min:
                raise InputError("give either step_weights or reduce_min=True, not both")
            step_weights = torch.as_tensor(step_weights).detach().clone()
            if step_weights.dim() != 1 or step_weights.numel() < 1:
                raise InputError(
                    f"step_weights must be (T+1,), got shape {tuple(step_weights.shape)}"
                )
            if not torch.isfinite(step_weights).all():
                raise InputError("step_weights contains NaN or inf")
        if softmin_temperature is not None:
            if not reduce_min:
                raise InputError("softmin_temperature needs reduce_min=True")
            if not softmin_temperature > 0:
                raise InputError(f"softmin_temperature must be > 0, got {softmin_temperature}")
        for name, weight in (("goal_weight", goal_weight), ("action_weight", action_weight)):
            if not torch.isfinite(torch.tensor(float(weight))):
                raise InputError(f"{name} must be finite, got {weight}")
        self.goal_weight = float(goal_weight)
        self.action_weight = float(action_weight)
        self.squared = bool(squared)
        self.reduce_min = bool(reduce_min)
        self.softmin_temperature = (
            None if softmin_temperature is None else float(softmin_temperature)
        )
        self.include_current = bool(include_current)
        regions = tuple(regions)
        position_weight, position_bias = check_position_map(regions, position_weight, position_bias)
        self.regions = regions  # a tuple of frozen dataclasses: nothing in it can change
        self.register_buffer("goal", goal)
        self.register_buffer("goal_set", goal_set)
        self.register_buffer("step_weights", step_weights)
        self.register_buffer("position_weight", position_weight)
        self.register_buffer("position_bias", position_bias)
        self._frozen = True  # from here on, __setattr__ refuses everything but `training`

    # ---- immutability ------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        # `training` is flipped by .train()/.eval() (e.g. of an enclosing agent); harmless here.
        if getattr(self, "_frozen", False) and name != "training":
            raise AttributeError(
                f"IntrinsicCost is immutable: cannot set {name!r} after construction; "
                "build a new one (e.g. with_goal(goal))"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"IntrinsicCost is immutable: cannot delete {name!r}")
        super().__delattr__(name)

    def register_parameter(self, name: str, param: nn.Parameter | None) -> None:
        raise AttributeError(
            f"IntrinsicCost has no trainable parameters by design: refusing to register {name!r}"
        )

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"IntrinsicCost is immutable: cannot register buffer {name!r}")
        super().register_buffer(name, tensor, persistent)

    def add_module(self, name: str, module: nn.Module | None) -> None:
        raise AttributeError(f"IntrinsicCost holds no submodules: refusing to add {name!r}")

    def register_module(self, name: str, module: nn.Module | None) -> None:
        self.add_module(name, module)

    def with_goal(self, goal: Tensor) -> IntrinsicCost:
        """A new cost, identical but for ``goal (B, *state_shape)``; ``self`` is unchanged."""
        return self._replace_goal(goal.to(self.goal) if self.goal is not None else goal, None)

    def with_goal_set(self, goal_set: Tensor) -> IntrinsicCost:
        """A new cost, identical but for the goal region ``goal_set (B, K, D)``."""
        return self._replace_goal(None, goal_set)

    @property
    def has_goal(self) -> bool:
        """Whether a goal (or goal set) is set, i.e. whether the ``goal`` term exists."""
        return self.goal is not None or self.goal_set is not None

    def _replace_goal(self, goal: Tensor | None, goal_set: Tensor | None) -> IntrinsicCost:
        return IntrinsicCost(
            goal=goal,
            goal_set=goal_set,
            goal_weight=self.goal_weight,
            action_weight=self.action_weight,
            squared=self.squared,
            step_weights=self.step_weights,
            reduce_min=self.reduce_min,
            softmin_temperature=self.softmin_temperature,
            include_current=self.include_current,
            regions=self.regions,
            position_weight=self.position_weight,
            position_bias=self.position_bias,
        )

    @property
    def weights(self) -> dict[str, float]:
        """Weight of every term that :meth:`terms` returns (``goal`` only when a goal is set)."""
        out = {"goal": self.goal_weight} if self.has_goal else {}
        out["action"] = self.action_weight
        out.update({region.name: float(region.weight) for region in self.regions})
        return out

    def describe(self) -> dict:
        """Plain data for config files and reports: weights, aggregation and regions."""
        return {
            "goal_weight": self.goal_weight, "action_weight": self.action_weight, "squared": self.squared,
            "reduce_min": self.reduce_min, "softmin_temperature": self.softmin_temperature,
            "regions": [region.describe() for region in self.regions],
        }

    # ---- the cost ----------------------------------------------------------------------------

    def goal_distance(self, states: Tensor) -> Tensor:
        """Per-step distance to the goal, ``states (B, S, T+1, *state_shape) -> (B, S, T+1)``."""
        if not self.has_goal:
            raise InputError("IntrinsicCost has no goal: pass one at construction or with_goal()")
        if states.dim() < 4:
            raise InputError(
                f"states must be (B, S, T+1, *state_shape), got shape {tuple(states.shape)}"
            )
        batch, samples, steps = states.shape[:3]
        flat = states.reshape(batch, samples * steps, -1)  # (B, S*(T+1), D)
        return self._goal_sq_distance(flat, states.shape).reshape(batch, samples, steps)

    def _goal_sq_distance(self, points: Tensor, shape_for_errors: tuple) -> Tensor:
        """Distance (squared or not) of ``points (P, M, D)`` to the goal (batch 1 or P) -> ``(P, M)``."""
        target = self.goal if self.goal is not None else self.goal_set
        assert target is not None
        count = target.shape[0]
        if self.goal is not None:
            target = self.goal.reshape(count, 1, -1)  # (G, 1, D)
        if target.shape[-1] != points.shape[-1] or count not in (1, points.shape[0]):
            raise InputError(
                f"goal of shape {tuple(target.shape if self.goal is None else self.goal.shape)} does not "
                f"match states of shape {tuple(shape_for_errors)} (need goal batch 1 or {points.shape[0]} "
                "and equal state size)"
            )
        target = target.to(points)
        if self.goal is not None:
            squared = (points - target).square().sum(-1)
        else:  # nearest of K goal states, by ||p||^2 + ||g||^2 - 2 p.g
            cross = points @ target.transpose(1, 2)  # (P, M, K)
            squared = points.square().sum(-1, keepdim=True) + target.square().sum(-1)[:, None, :] - 2 * cross
            squared = squared.amin(-1).clamp_min(0.0)
        return squared if self.squared else squared.sqrt()

    def terms(self, states: Tensor, actions: Tensor) -> dict[str, Tensor]:
        """Unweighted terms, each ``(B, S)``: ``goal`` (only when a goal is set) and ``action``.

        Args:
            states: ``(B, S, T+1, *state_shape)``, step 0 is the current state.
            actions: ``(B, S, T, A)``.
        """
        if actions.dim() != 4 or tuple(actions.shape[:2]) != tuple(states.shape[:2]):
            raise InputError(
                f"actions must be (B, S, T, A) matching states (B, S, ...); got "
                f"{tuple(actions.shape)} and {tuple(states.shape)}"
            )
        if states.dim() >= 3 and states.shape[2] != actions.shape[2] + 1:
            raise InputError(
                f"states must have T+1 = {actions.shape[2] + 1} steps, got {states.shape[2]}"
            )
        out: dict[str, Tensor] = {}
        if self.has_goal:
            out["goal"] = self._aggregate(self.goal_distance(states))
        out["action"] = actions.square().sum(-1).mean(-1)
        if self.regions:
            xy = self.positions(states[:, :, 1:])  # (B, S, T, 2): the plan's steps 1..T
            for region in self.regions:
                out[region.name] = region.reduce_steps(region.penalty(xy))
        return out

    def positions(self, states: Tensor) -> Tensor:
        """``(x, y)`` read through the frozen position map: ``states (..., *state_shape) -> (..., 2)``.

        ``states`` must keep the state's own dims last (``(B, S, T, D)`` or ``(N, D)``).
        """
        if self.position_weight is None or self.position_bias is None:
            raise InputError("IntrinsicCost has no position map (position_weight / position_bias)")
        dim = self.position_weight.shape[0]
        flat = states.reshape(*states.shape[: states.dim() - self._state_dims(states, dim)], dim)
        return flat @ self.position_weight.to(flat) + self.position_bias.to(flat)

    @staticmethod
    def _state_dims(states: Tensor, dim: int) -> int:
        """How many trailing dims of ``states`` make one state of ``dim`` numbers."""
        size = 1
        for k in range(1, states.dim() + 1):
            size *= states.shape[-k]
            if size == dim:
                return k
        raise InputError(f"states of shape {tuple(states.shape)} do not end in a state of {dim} numbers")

    def step_terms(self, states: Tensor, actions: Tensor) -> dict[str, Tensor]:
        """Unweighted per-transition terms, each ``(..., T)``: the cost of step ``s_t -> s_{t+1}``.

        Args:
            states: ``(..., T+1, *state_shape)``; ``actions``: ``(..., T, A)``.

        ``goal``: distance of ``s_{t+1}`` to the goal (squared or not, as configured), ``action``:
        ``||a_t||^2``, regions: their penalty at ``s_{t+1}``. No aggregation over steps.
        """
        if actions.dim() < 2:
            raise InputError(f"actions must be (..., T, A), got shape {tuple(actions.shape)}")
        lead = actions.shape[:-2]
        steps = actions.shape[-2]
        if tuple(states.shape[: len(lead) + 1]) != (*lead, steps + 1):
            raise InputError(
                f"states must be (..., T+1, *state_shape) matching actions {tuple(actions.shape)}, "
                f"got {tuple(states.shape)}"
            )
        reached = states.narrow(len(lead), 1, steps).reshape(*lead, steps, -1)  # (..., T, D)
        out: dict[str, Tensor] = {}
        if self.has_goal:
            problems = lead[0] if lead else 1
            points = reached.reshape(problems, -1, reached.shape[-1])  # (P, prod(lead[1:]) * T, D)
            out["goal"] = self._goal_sq_distance(points, tuple(states.shape)).reshape(*lead, steps)
        out["action"] = actions.square().sum(-1)
        if self.regions:
            xy = self.positions(reached)
            for region in self.regions:
                out[region.name] = region.penalty(xy)
        return out

    def step_cost(self, states: Tensor, actions: Tensor) -> Tensor:
        """Weighted sum of :meth:`step_terms`, ``(..., T)``."""
        terms = self.step_terms(states, actions)
        weights = self.weights
        return sum(weights[name] * value for name, value in terms.items())

    def _aggregate(self, distance: Tensor) -> Tensor:
        """``(B, S, T+1) -> (B, S)`` by step weights, min or soft-min over steps."""
        if not self.reduce_min:
            if self.step_weights is None:
                return distance[..., -1]
            if self.step_weights.numel() != distance.shape[-1]:
                raise InputError(
                    f"step_weights has {self.step_weights.numel()} entries but the trajectory "
                    f"has T+1 = {distance.shape[-1]} steps"
                )
            return (distance * self.step_weights.to(distance)).sum(-1)
        if not self.include_current and distance.shape[-1] > 1:
            distance = distance[..., 1:]
        if self.softmin_temperature is None:
            return distance.amin(-1)
        weights = torch.softmax(-distance / self.softmin_temperature, dim=-1)
        return (weights * distance).sum(-1)

    def forward(self, states: Tensor, actions: Tensor) -> Tensor:
        """Weighted sum of the terms, ``(B, S)``."""
        if not self.has_goal and self.goal_weight != 0:
            raise InputError("IntrinsicCost has no goal: pass one at construction or with_goal()")
        terms = self.terms(states, actions)
        total = self.action_weight * terms["action"]
        if "goal" in terms:
            total = total + self.goal_weight * terms["goal"]
        for region in self.regions:
            total = total + float(region.weight) * terms[region.name]
        return total
