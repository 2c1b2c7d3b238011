"""Mode-2 model-predictive control: plan, execute the first action, re-plan, warm-started.

Written once for any dynamics and cost: the controller only holds the planner, the horizon and
the warm start (the previous plan shifted one step), so the same code drives the learned world
model in representation space and the true simulator on positions.

One planner step is ``action_repeat`` environment steps holding the action; the caller executes
the returned action that many times before calling :meth:`ModelPredictiveController.act` again.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.planning.base import Dynamics, PlanResult, Planner, TrajectoryCost


class ModelPredictiveController:
    """Receding-horizon control around a :class:`~hjepa.planning.base.Planner`.

    Args:
        planner: anything with ``plan(s0, dynamics, cost, horizon, init, generator)``.
        horizon: planner steps per plan ``T``.
        action_repeat: environment steps per planner step (stored for the caller).
        generator: randomness of the planner, advanced by every call.

    Example:
        >>> planner = MPPI(2, -2.45, 2.45)                                # doctest: +SKIP
        >>> mpc = ModelPredictiveController(planner, 16, 4, torch.Generator())  # doctest: +SKIP
        >>> mpc.reset(n)                                                  # doctest: +SKIP
        >>> action, plan = mpc.act(state, dynamics, cost)  # (n, 2)       # doctest: +SKIP
    """

    def __init__(
        self, planner: Planner, horizon: int, action_repeat: int, generator: torch.Generator
    ) -> None:
        for name, value in (("horizon", horizon), ("action_repeat", action_repeat)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.planner = planner
        self.horizon = horizon
        self.action_repeat = action_repeat
        self.generator = generator
        self.warm_start: Tensor | None = None  # (N, T, A) or None before the first plan
        self.batch: int | None = None

    def reset(self, n: int) -> None:
        """Start ``n`` new episodes: forget the warm start."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.batch = n
        self.warm_start = None

    def forget(self, episodes: Tensor) -> None:
        """Reset the warm start of some episodes (bool mask ``(N,)`` or indices) to the zero plan.

        A zero plan is what every planner starts from without a warm start.
        """
        if self.warm_start is not None:
            self.warm_start = self.warm_start.clone()
            self.warm_start[episodes.to(self.warm_start.device)] = 0.0

    def act(
        self, state: Tensor, dynamics: Dynamics, cost: TrajectoryCost, rows: Tensor | None = None
    ) -> tuple[Tensor, PlanResult]:
        """Plan from ``state (M, *state_shape)``; return the first action ``(M, A)`` and the plan.

        The plan starts from the previous call's warm start (none on the first call) and its own
        warm start is kept for the next call. ``rows`` (M,) int64 names which of the ``N``
        episodes given to :meth:`reset` ``state`` holds (default: all of them, ``M = N``), so
        finished episodes need not be planned for; each episode keeps its own warm start.
        """
        if rows is not None:
            if self.batch is None:
                raise ValueError("rows needs reset(n) first")
            if rows.dim() != 1 or rows.shape[0] != state.shape[0]:
                raise ValueError(f"rows must be (M,) with M={state.shape[0]}, got {tuple(rows.shape)}")
        elif self.batch is not None and state.shape[0] != self.batch:
            raise ValueError(f"state has {state.shape[0]} episodes, reset() was given {self.batch}")
        init = self.warm_start
        if init is not None and rows is not None:
            init = init[rows.to(init.device)]
        if init is not None and init.shape[0] != state.shape[0]:
            init = None  # a different batch: the old plan means nothing for it
        result = self.planner.plan(
            state, dynamics, cost, self.horizon, init=init, generator=self.generator
        )
        new = None if result.warm_start is None else result.warm_start.detach()
        if rows is None or new is None:
            self.warm_start = new
        else:
            if self.warm_start is None or self.warm_start.shape[1:] != new.shape[1:]:
                self.warm_start = new.new_zeros(self.batch, *new.shape[1:])
            else:
                self.warm_start = self.warm_start.clone()
            self.warm_start[rows.to(new.device)] = new
        return result.actions[:, 0].detach(), result
