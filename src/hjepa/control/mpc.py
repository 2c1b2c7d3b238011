"""Mode-2 model-predictive control: plan, execute the first action, re-plan, warm-started.

Written once for any dynamics and cost: the controller only holds the planner, the horizon and
the warm start (the previous plan shifted one step), so the same code drives the learned world
model in representation space and the true simulator on positions.

One planner step is ``action_repeat`` environment steps holding the action; the caller executes
the returned action that many times before calling :meth:`ModelPredictiveController.act` again.

``replan_every = k > 1`` plans at every k-th decision only and executes the next actions of the
last plan in between (open loop for ``k * action_repeat`` environment steps): planning time per
environment step falls by k, at the price of reacting later to what the plan did not foresee.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hjepa.errors import InputError
from hjepa.planning.base import Dynamics, Planner, PlanResult, TrajectoryCost, shift_plan


class ModelPredictiveController:
    """Receding-horizon control around a :class:`~hjepa.planning.base.Planner`.

    Args:
        planner: anything with ``plan(s0, dynamics, cost, horizon, init, generator)``.
        horizon: planner steps per plan ``T``.
        action_repeat: environment steps per planner step (stored for the caller).
        generator: randomness of the planner, advanced by every call.
        replan_every: decisions per plan ``k`` (1: plan at every decision); in between,
            :meth:`act` returns the next action of the last plan without planning. At most
            ``horizon``.

    Example:
        >>> planner = MPPI(2, -2.45, 2.45)                                # doctest: +SKIP
        >>> mpc = ModelPredictiveController(planner, 16, 4, torch.Generator())  # doctest: +SKIP
        >>> mpc.reset(n)                                                  # doctest: +SKIP
        >>> action, plan = mpc.act(state, dynamics, cost)  # (n, 2)       # doctest: +SKIP
    """

    def __init__(
        self,
        planner: Planner,
        horizon: int,
        action_repeat: int,
        generator: torch.Generator,
        replan_every: int = 1,
    ) -> None:
        for name, value in (("horizon", horizon), ("action_repeat", action_repeat), ("replan_every", replan_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an int >= 1, got {value!r}")
        if replan_every > horizon:
            raise InputError(f"replan_every ({replan_every}) cannot exceed the horizon ({horizon}): "
                             "a plan has only that many actions")
        self.planner = planner
        self.horizon = horizon
        self.action_repeat = action_repeat
        self.generator = generator
        self.replan_every = replan_every
        self.warm_start: Tensor | None = None  # (N, T, A) or None before the first plan
        self.batch: int | None = None
        self._plan: Tensor | None = None  # (N, T, A) the last plan's actions, when replan_every > 1
        self._cost: Tensor | None = None  # (N,) its cost
        self._age = 0  # decisions since the last plan was made

    def reset(self, n: int) -> None:
        """Start ``n`` new episodes: forget the warm start."""
        if n < 1:
            raise InputError(f"n must be >= 1, got {n}")
        self.batch = n
        self.warm_start = None
        self._plan = self._cost = None
        self._age = 0

    def forget(self, episodes: Tensor) -> None:
        """Reset the warm start of some episodes (bool mask ``(N,)`` or indices) to the zero plan.

        A zero plan is what every planner starts from without a warm start. With
        ``replan_every > 1`` the next decision plans again (for every episode).
        """
        self._plan = None
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

        With ``replan_every = k > 1``, the ``k - 1`` calls after a plan return its next actions
        (``info["replanned"]`` is False and ``info["iterations"]`` 0; ``actions`` is the rest of
        the plan, padded with its last action) and the warm start moves on one step each time.
        """
        if rows is not None:
            if self.batch is None:
                raise ValueError("rows needs reset(n) first")
            if rows.dim() != 1 or rows.shape[0] != state.shape[0]:
                raise InputError(f"rows must be (M,) with M={state.shape[0]}, got {tuple(rows.shape)}")
        elif self.batch is not None and state.shape[0] != self.batch:
            raise InputError(f"state has {state.shape[0]} episodes, reset() was given {self.batch}")
        if self._plan is not None and self._age > 0 and (rows is not None or self._plan.shape[0] == state.shape[0]):
            return self._follow(rows)
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
        if self.replan_every > 1:
            self._remember(result, rows)
        return result.actions[:, 0].detach(), result

    def _remember(self, result: PlanResult, rows: Tensor | None) -> None:
        """Keep the plan just made (all ``N`` episodes' rows) for the decisions until the next."""
        actions, cost = result.actions.detach(), result.cost.detach()
        if rows is None:
            self._plan, self._cost = actions, cost
        else:
            self._plan = actions.new_zeros(self.batch, *actions.shape[1:])
            self._cost = cost.new_full((self.batch,), float("nan"))
            self._plan[rows.to(actions.device)] = actions
            self._cost[rows.to(cost.device)] = cost
        self._age = 1

    def _follow(self, rows: Tensor | None) -> tuple[Tensor, PlanResult]:
        """The next action of the last plan, without planning."""
        plan, cost = self._plan, self._cost
        if rows is not None:
            plan, cost = plan[rows.to(plan.device)], cost[rows.to(cost.device)]
        rest = shift_plan(plan, self._age)  # (M, T, A): what is left of the plan, padded
        if self.warm_start is not None:
            self.warm_start = shift_plan(self.warm_start, 1)
        self._age += 1
        if self._age >= self.replan_every:
            self._age = 0  # the next call plans
        info = {"iterations": 0, "replanned": False}
        return rest[:, 0], PlanResult(rest, cost, info, warm_start=None)
