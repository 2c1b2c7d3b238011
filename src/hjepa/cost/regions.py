"""Region terms of the intrinsic cost: "stay out of this area" and "be in / stay in this area".

A region is an axis-aligned rectangle in the world's pixel coordinates ``(x, y)``. The agent's
states are representations, not positions, so a region term first maps states to positions with a
frozen affine map ``xy = state @ weight + bias`` (the linear probe of ``(x, y)`` stored with the
world model, folded into one matrix: :func:`position_map_from_probe`) and then measures, per step,
a differentiable penalty in squared pixels:

- ``avoid``: squared penetration depth into the box inflated by ``margin`` (zero outside),
  i.e. how far the agent would have to move to leave it;
- ``stay``: squared distance from the point to the box shrunk by ``margin`` (zero inside).

With ``saturation = r`` pixels a penalty ``p`` becomes ``r^2 (1 - exp(-p / r^2))``: the same near
the region's edge, but flat (about ``r^2``) far from it. A flat far field does not pull a plan
straight at the nearest point of a region (for a room: into the wall that separates it), which
leaves the sampling planner free to find the way round, as the representation-space goal distance
(which saturates a few pixels from the goal) does.

The per-step penalties of a plan ``(B, S, T)`` are reduced over the horizon by ``reduce``:
``mean`` (a constraint: every step counts), ``max`` (the worst step) or ``min`` (a goal: the closest
approach, as the goal-distance term does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hjepa.errors import InputError

RegionKind = Literal["avoid", "stay"]
Reduce = Literal["mean", "max", "min"]


@dataclass(frozen=True)
class Box:
    """Axis-aligned rectangle ``x_min <= x <= x_max``, ``y_min <= y <= y_max`` (pixels)."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def __post_init__(self) -> None:
        values = (self.x_min, self.y_min, self.x_max, self.y_max)
        if not all(isinstance(v, (int, float)) and torch.isfinite(torch.tensor(float(v))) for v in values):
            raise InputError(f"box corners must be finite numbers, got {values}")
        if not (self.x_min < self.x_max and self.y_min < self.y_max):
            raise InputError(
                f"box needs x_min < x_max and y_min < y_max, got (x_min, y_min, x_max, y_max) = {values}"
            )

    def grown(self, margin: float) -> "Box":
        """The box inflated by ``margin`` on every side (shrunk when ``margin < 0``)."""
        return Box(self.x_min - margin, self.y_min - margin, self.x_max + margin, self.y_max + margin)

    def contains(self, xy: Tensor) -> Tensor:
        """``xy (..., 2) -> (...)`` bool: inside or on the border."""
        x, y = xy[..., 0], xy[..., 1]
        return (x >= self.x_min) & (x <= self.x_max) & (y >= self.y_min) & (y <= self.y_max)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (float(self.x_min), float(self.y_min), float(self.x_max), float(self.y_max))


def penetration_depth(xy: Tensor, box: Box) -> Tensor:
    """``xy (..., 2) -> (...)``: distance to the nearest side for points inside ``box``, else 0."""
    x, y = xy[..., 0], xy[..., 1]
    sides = torch.stack([x - box.x_min, box.x_max - x, y - box.y_min, box.y_max - y], dim=-1)
    return sides.amin(-1).clamp_min(0.0)


def outside_sq_distance(xy: Tensor, box: Box) -> Tensor:
    """``xy (..., 2) -> (...)``: squared Euclidean distance to ``box`` (0 inside)."""
    x, y = xy[..., 0], xy[..., 1]
    dx = (box.x_min - x).clamp_min(0.0) + (x - box.x_max).clamp_min(0.0)
    dy = (box.y_min - y).clamp_min(0.0) + (y - box.y_max).clamp_min(0.0)
    return dx.square() + dy.square()


@dataclass(frozen=True)
class RegionTerm:
    """One named region term of the intrinsic cost.

    Attributes:
        name: key of the term in ``IntrinsicCost.terms`` (not ``goal`` or ``action``).
        kind: ``avoid`` (penalise being inside) or ``stay`` (penalise being outside).
        box: the region in pixels.
        weight: weight of the term in the total cost.
        margin: pixels of safety: ``avoid`` inflates the box, ``stay`` shrinks it.
        reduce: aggregation over the plan's steps ``1..T``: ``mean``, ``max`` or ``min``.
        saturation: pixels beyond which the penalty flattens out (None: plain squared pixels).
    """

    name: str
    kind: RegionKind
    box: Box
    weight: float = 1.0
    margin: float = 0.0
    reduce: Reduce = "mean"
    saturation: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InputError(f"region term name must be an identifier, got {self.name!r}")
        if self.name in ("goal", "action"):
            raise InputError(f"region term name {self.name!r} is reserved for the built-in terms")
        if self.kind not in ("avoid", "stay"):
            raise InputError(f"region kind must be 'avoid' or 'stay', got {self.kind!r}")
        if self.reduce not in ("mean", "max", "min"):
            raise InputError(f"region reduce must be 'mean', 'max' or 'min', got {self.reduce!r}")
        if not isinstance(self.box, Box):
            raise InputError(f"region box must be a Box, got {type(self.box).__name__}")
        for label, value in (("weight", self.weight), ("margin", self.margin)):
            if not torch.isfinite(torch.tensor(float(value))) or value < 0:
                raise InputError(f"region {label} must be finite and >= 0, got {value}")
        if self.saturation is not None and not (self.saturation > 0 and self.saturation != float("inf")):
            raise InputError(f"region saturation must be a finite number > 0 or None, got {self.saturation}")
        if self.kind == "stay":
            inner = (self.box.x_max - self.box.x_min, self.box.y_max - self.box.y_min)
            if min(inner) <= 2 * self.margin:
                raise InputError(f"region {self.name!r}: margin {self.margin} leaves nothing of box {self.box}")

    @property
    def effective_box(self) -> Box:
        """The box the penalty is measured against (after the margin)."""
        return self.box.grown(self.margin if self.kind == "avoid" else -self.margin)

    def penalty(self, xy: Tensor) -> Tensor:
        """Per-step penalty in squared pixels, ``xy (..., 2) -> (...)``."""
        if self.kind == "avoid":
            penalty = penetration_depth(xy, self.effective_box).square()
        else:
            penalty = outside_sq_distance(xy, self.effective_box)
        if self.saturation is None:
            return penalty
        cap = self.saturation**2
        return cap * (1.0 - torch.exp(-penalty / cap))

    def reduce_steps(self, penalty: Tensor) -> Tensor:
        """``(..., T) -> (...)`` by ``reduce``."""
        if self.reduce == "mean":
            return penalty.mean(-1)
        if self.reduce == "max":
            return penalty.amax(-1)
        return penalty.amin(-1)

    def describe(self) -> dict:
        """Plain data for logs and config files."""
        return {"name": self.name, "kind": self.kind, "box": list(self.box.as_tuple()), "weight": self.weight,
                "margin": self.margin, "reduce": self.reduce, "saturation": self.saturation}


def position_map_from_probe(probe) -> tuple[Tensor, Tensor]:
    """Fold a :class:`~hjepa.eval.probe.LinearProbe` of ``(x, y)`` into ``(weight (D, 2), bias (2,))``.

    The probe standardises features first: ``xy = ((s - mean) / std) @ W + b``, which equals
    ``s @ (W / std[:, None]) + (b - (mean / std) @ W)``. Returned in float32, detached.
    """
    weight = probe.weight.double() / probe.feature_std.double()[:, None]
    bias = probe.bias.double() - (probe.feature_mean.double() / probe.feature_std.double()) @ probe.weight.double()
    if weight.dim() != 2 or weight.shape[1] != 2:
        raise InputError(f"the probe must predict (x, y): its weight is {tuple(probe.weight.shape)}, need (D, 2)")
    return weight.float().detach().clone(), bias.float().detach().clone()


def check_position_map(
    regions: tuple[RegionTerm, ...], weight: Tensor | None, bias: Tensor | None
) -> tuple[Tensor | None, Tensor | None]:
    """Check region terms (distinct names) and the position map ``xy = s @ weight + bias`` they read
    positions through (``weight (D, 2)``, ``bias (2,)``, finite); returns the map as detached copies."""
    for region in regions:
        if not isinstance(region, RegionTerm):
            raise InputError(f"regions must hold RegionTerm objects, got {type(region).__name__}")
    names = [region.name for region in regions]
    if len(set(names)) != len(names):
        raise InputError(f"region term names must be distinct, got {names}")
    if (weight is None) != (bias is None):
        raise InputError("give both position_weight and position_bias, or neither")
    if regions and weight is None:
        raise InputError(
            f"region terms {names} need a position map (position_weight, position_bias), e.g. from "
            "position_map_from_probe(probe)"
        )
    if weight is None or bias is None:
        return None, None
    if weight.dim() != 2 or weight.shape[1] != 2 or tuple(bias.shape) != (2,):
        raise InputError(
            f"position map must be weight (D, 2) and bias (2,), got {tuple(weight.shape)} and {tuple(bias.shape)}"
        )
    if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
        raise InputError("position map contains NaN or inf")
    return weight.detach().clone(), bias.detach().clone()
