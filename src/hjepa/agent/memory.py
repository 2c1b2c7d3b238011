"""Short-term memory: a bounded ring buffer of the episodes the agent lived through.

Each episode is what one Mode-1 / Mode-2 cycle produced step by step: the representations
``s_0 .. s_L`` (one more than the actions: the state reached by the last action is kept, so TD
targets can bootstrap from it), the actions ``a_0 .. a_{L-1}``, every intrinsic cost term of each
transition ``s_t -> s_{t+1}`` (unweighted, so a critic can be trained for any weighting), the
``done`` flags (the episode terminated on reaching ``s_{t+1}``, e.g. success) and the goal the
episode pursued. An episode that ends without ``done`` was truncated (time limit).

Optionally each step also holds the action a teacher (Mode-2 planning) would have taken in
``s_t``: the labels that distill planning into the Mode-1 policy (DAgger). Missing labels are NaN.

Storage is preallocated ``(capacity, max_length, ...)``; when full, the oldest episode is replaced.
``state_dict`` holds tensors and plain numbers only, so it is saved with the run's checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from hjepa.errors import InputError


@dataclass
class MemoryBatch:
    """Windows sampled from memory, ``B`` of them, ``L`` steps each.

    states (B, L+1, D); actions (B, L, A); teacher_actions (B, L, A), NaN where unlabelled;
    terms {name: (B, L)}; done (B, L) bool; goals (B, G); episode (B,) slot index; start (B,) step.
    """

    states: Tensor
    actions: Tensor
    teacher_actions: Tensor
    terms: dict[str, Tensor]
    done: Tensor
    goals: Tensor
    episode: Tensor
    start: Tensor


class ShortTermMemory:
    """Ring buffer of at most ``capacity`` episodes of at most ``max_length`` steps.

    Args:
        capacity: episodes kept; the oldest is overwritten first.
        max_length: longest episode (actions), e.g. ``max_episode_steps / action_repeat``.
        state_dim, goal_dim, action_dim: sizes ``D``, ``G``, ``A``.
        term_names: names of the intrinsic cost terms stored per step.

    Example:
        >>> memory = ShortTermMemory(100, 50, 64, 64, 2, ["goal", "action"])
        >>> memory.add(states, actions, terms, done, goals, lengths)   # doctest: +SKIP
        >>> batch = memory.sample(32, 4, generator)                       # doctest: +SKIP
    """

    def __init__(
        self,
        capacity: int,
        max_length: int,
        state_dim: int,
        goal_dim: int,
        action_dim: int,
        term_names: Sequence[str],
    ) -> None:
        for name, value in (("capacity", capacity), ("max_length", max_length), ("state_dim", state_dim),
                            ("goal_dim", goal_dim), ("action_dim", action_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an int >= 1, got {value!r}")
        names = list(term_names)
        if not names or len(set(names)) != len(names):
            raise InputError(f"term_names must be distinct and non-empty, got {names}")
        self.capacity, self.max_length = capacity, max_length
        self.state_dim, self.goal_dim, self.action_dim = state_dim, goal_dim, action_dim
        self.term_names = names
        self.states = torch.zeros(capacity, max_length + 1, state_dim)
        self.actions = torch.zeros(capacity, max_length, action_dim)
        self.teacher_actions = torch.full((capacity, max_length, action_dim), float("nan"))
        self.terms = {name: torch.zeros(capacity, max_length) for name in names}
        self.done = torch.zeros(capacity, max_length, dtype=torch.bool)
        self.goals = torch.zeros(capacity, goal_dim)
        self.lengths = torch.zeros(capacity, dtype=torch.long)
        self.cursor = 0  # next slot to write
        self.count = 0  # episodes stored
        self.added = 0  # episodes ever added

    # ---- writing -----------------------------------------------------------------------------

    def add(
        self,
        states: Tensor,
        actions: Tensor,
        terms: dict[str, Tensor],
        done: Tensor,
        goals: Tensor,
        lengths: Tensor,
        teacher_actions: Tensor | None = None,
    ) -> Tensor:
        """Store ``N`` episodes; returns their slots ``(N,)``.

        Args:
            states: ``(N, L+1, D)`` with ``L <= max_length``; steps after ``lengths[e]`` ignored.
            actions: ``(N, L, A)``.
            terms: every name of ``term_names`` -> ``(N, L)`` unweighted per-step cost terms.
            done: ``(N, L)`` bool, True at the step that terminated the episode.
            goals: ``(N, G)``.
            lengths: ``(N,)`` steps of each episode, ``1 <= lengths <= L``.
            teacher_actions: ``(N, L, A)`` labels or None (NaN = unlabelled).
        """
        n, length = actions.shape[0], actions.shape[1]
        expected = {
            "states": (states, (n, length + 1, self.state_dim)),
            "actions": (actions, (n, length, self.action_dim)),
            "done": (done, (n, length)),
            "goals": (goals, (n, self.goal_dim)),
            "lengths": (lengths, (n,)),
        }
        if teacher_actions is not None:
            expected["teacher_actions"] = (teacher_actions, (n, length, self.action_dim))
        for name, (value, shape) in expected.items():
            if tuple(value.shape) != shape:
                raise InputError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
        if length > self.max_length:
            raise InputError(f"episodes of {length} steps exceed max_length {self.max_length}")
        if set(terms) != set(self.term_names):
            raise InputError(f"terms must have exactly the names {self.term_names}, got {sorted(terms)}")
        for name, value in terms.items():
            if tuple(value.shape) != (n, length):
                raise InputError(f"term {name!r} must have shape {(n, length)}, got {tuple(value.shape)}")
        if n and (int(lengths.min()) < 1 or int(lengths.max()) > length):
            raise InputError(f"lengths must be in [1, {length}], got {lengths.tolist()}")
        slots = (self.cursor + torch.arange(n)) % self.capacity
        if n > self.capacity:  # only the last `capacity` episodes survive
            keep = torch.arange(n - self.capacity, n)
            return self.add(states[keep], actions[keep], {k: v[keep] for k, v in terms.items()}, done[keep],
                            goals[keep], lengths[keep], None if teacher_actions is None else teacher_actions[keep])
        steps = torch.arange(self.max_length)
        valid = steps[None, :] < lengths[:, None]  # (N, max_length)
        pad = self.max_length - length
        cpu = {"device": "cpu", "dtype": torch.float32}

        def padded(x: Tensor, fill: float) -> Tensor:
            x = x.detach().to(**cpu) if x.is_floating_point() else x.detach().cpu()
            if pad:
                shape = (x.shape[0], pad, *x.shape[2:])
                x = torch.cat([x, torch.full(shape, fill, dtype=x.dtype)], dim=1)
            return x

        self.states[slots] = padded(states, 0.0)
        self.actions[slots] = torch.where(valid[..., None], padded(actions, 0.0), 0.0)
        labels = teacher_actions if teacher_actions is not None else torch.full_like(actions, float("nan"))
        self.teacher_actions[slots] = torch.where(valid[..., None], padded(labels, float("nan")), float("nan"))
        for name, value in terms.items():
            self.terms[name][slots] = torch.where(valid, padded(value, 0.0), 0.0)
        self.done[slots] = padded(done.bool(), False) & valid
        self.goals[slots] = goals.detach().to(**cpu)
        self.lengths[slots] = lengths.detach().cpu().long()
        self.cursor = int((self.cursor + n) % self.capacity)
        self.count = min(self.capacity, self.count + n)
        self.added += n
        return slots

    # ---- reading -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.count

    @property
    def slots(self) -> Tensor:
        """Occupied slots ``(count,)``, oldest first."""
        if self.count < self.capacity:
            return torch.arange(self.count)
        return (self.cursor + torch.arange(self.capacity)) % self.capacity

    def transitions(self) -> int:
        """Steps stored over all episodes."""
        return int(self.lengths[self.slots].sum())

    def valid_mask(self) -> Tensor:
        """``(capacity, max_length)`` bool: the stored steps."""
        mask = torch.arange(self.max_length)[None, :] < self.lengths[:, None]
        occupied = torch.zeros(self.capacity, dtype=torch.bool)
        occupied[self.slots] = True
        return mask & occupied[:, None]

    def sample(self, batch: int, length: int, generator: torch.Generator | None = None,
               episode_weights: Tensor | None = None) -> MemoryBatch:
        """``batch`` windows of ``length`` steps, uniform over all windows that fit in an episode
        (each episode's windows weighted by ``episode_weights (capacity,)`` when given, e.g. the
        counts of a bootstrap resample)."""
        if batch < 1 or length < 1:
            raise InputError(f"batch and length must be >= 1, got {batch} and {length}")
        counts = (self.lengths - length + 1).clamp_min(0).float()
        if episode_weights is not None and (
                tuple(episode_weights.shape) != (self.capacity,) or bool((episode_weights < 0).any())):
            raise InputError(f"episode_weights must be ({self.capacity},) and >= 0, got {tuple(episode_weights.shape)}")
        occupied = torch.zeros(self.capacity, dtype=torch.bool)
        occupied[self.slots] = True
        counts = torch.where(occupied, counts, torch.zeros_like(counts))
        if float(counts.sum()) == 0:
            longest = int(self.lengths[self.slots].max()) if self.count else 0
            raise InputError(
                f"no stored episode has {length} steps (memory holds {self.count} episodes, longest {longest})"
            )
        chance = counts if episode_weights is None else counts * episode_weights.float()
        if float(chance.sum()) == 0:
            raise InputError("episode_weights give every episode with such windows weight 0")
        episode = torch.multinomial(chance, batch, replacement=True, generator=generator)
        start = (torch.rand(batch, generator=generator) * counts[episode]).long()
        start = torch.minimum(start, counts[episode].long() - 1)
        steps = start[:, None] + torch.arange(length)[None, :]  # (B, L)
        rows = episode[:, None]
        return MemoryBatch(
            states=self.states[rows, torch.cat([steps, steps[:, -1:] + 1], dim=1)],
            actions=self.actions[rows, steps],
            teacher_actions=self.teacher_actions[rows, steps],
            terms={name: value[rows, steps] for name, value in self.terms.items()},
            done=self.done[rows, steps],
            goals=self.goals[episode],
            episode=episode,
            start=start,
        )

    def step_costs(self, weights: dict[str, float]) -> Tensor:
        """``(capacity, max_length)`` weighted per-step cost ``c_t = sum_k w_k term_k`` (0 past the end)."""
        unknown = set(weights) - set(self.term_names)
        if unknown:
            raise InputError(f"weights name terms {sorted(unknown)} that memory does not store ({self.term_names})")
        total = torch.zeros(self.capacity, self.max_length)
        for name, weight in weights.items():
            total = total + float(weight) * self.terms[name]
        return total * self.valid_mask()

    def returns(self, weights: dict[str, float], discount: float) -> Tensor:
        """Discounted Monte Carlo cost-to-go ``G_t = c_t + discount * G_{t+1}``, ``(capacity, max_length)``.

        ``G`` is 0 after a ``done`` step. A truncated episode (no ``done`` at its end) is assumed
        to keep paying its last cost forever: ``G_{L-1} = c_{L-1} / (1 - discount)`` — an agent
        that ran out of time is usually stuck where it was. NaN past each episode's end.
        """
        if not 0.0 <= discount < 1.0:
            raise InputError(f"discount must be in [0, 1), got {discount}")
        costs = self.step_costs(weights)
        valid = self.valid_mask()
        out = torch.full_like(costs, float("nan"))
        following = torch.zeros(self.capacity)  # G_{t+1}
        last = self.lengths - 1
        for t in range(self.max_length - 1, -1, -1):
            cost = costs[:, t]
            value = cost + discount * following
            value = torch.where(last == t, cost / (1.0 - discount), value)  # truncated: repeat the last cost
            value = torch.where(self.done[:, t], cost, value)  # terminal: nothing follows
            following = torch.where(valid[:, t], value, torch.zeros_like(value))
            out[:, t] = torch.where(valid[:, t], value, out[:, t])
        return out

    def labelled(self) -> tuple[Tensor, Tensor, Tensor]:
        """Every stored step with a teacher label: ``states (M, D)``, ``goals (M, G)``, ``actions (M, A)``."""
        mask = self.valid_mask() & torch.isfinite(self.teacher_actions).all(-1)
        rows, steps = mask.nonzero(as_tuple=True)
        return self.states[rows, steps], self.goals[rows], self.teacher_actions[rows, steps]

    # ---- saving ------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Tensors and plain numbers (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "format": "hjepa.agent.memory/1",
            "capacity": self.capacity, "max_length": self.max_length, "state_dim": self.state_dim,
            "goal_dim": self.goal_dim, "action_dim": self.action_dim, "term_names": list(self.term_names),
            "states": self.states.clone(), "actions": self.actions.clone(),
            "teacher_actions": self.teacher_actions.clone(),
            "terms": {k: v.clone() for k, v in self.terms.items()}, "done": self.done.clone(),
            "goals": self.goals.clone(), "lengths": self.lengths.clone(),
            "cursor": self.cursor, "count": self.count, "added": self.added,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> "ShortTermMemory":
        """A memory equal to the one that wrote ``state``."""
        if state.get("format") != "hjepa.agent.memory/1":
            raise InputError(f"not a short-term memory state (format {state.get('format')!r})")
        memory = cls(state["capacity"], state["max_length"], state["state_dim"], state["goal_dim"],
                     state["action_dim"], state["term_names"])
        memory.load_state_dict(state)
        return memory

    def load_state_dict(self, state: dict) -> None:
        """Restore contents written by :meth:`state_dict` (same sizes and term names)."""
        for key in ("capacity", "max_length", "state_dim", "goal_dim", "action_dim"):
            if state[key] != getattr(self, key):
                raise InputError(f"memory {key} {state[key]} does not match this memory's {getattr(self, key)}")
        if list(state["term_names"]) != self.term_names:
            raise InputError(f"memory term names {state['term_names']} differ from {self.term_names}")
        self.states = state["states"].float().clone()
        self.actions = state["actions"].float().clone()
        self.teacher_actions = state["teacher_actions"].float().clone()
        self.terms = {k: v.float().clone() for k, v in state["terms"].items()}
        self.done = state["done"].bool().clone()
        self.goals = state["goals"].float().clone()
        self.lengths = state["lengths"].long().clone()
        self.cursor, self.count, self.added = int(state["cursor"]), int(state["count"]), int(state["added"])


def bootstrap_weights(memory: ShortTermMemory, generator: torch.Generator | None = None) -> Tensor:
    """``(capacity,)`` counts of each stored episode in one bootstrap resample of them (as many
    draws, with replacement, as there are episodes; 0 for empty slots)."""
    slots = memory.slots
    if len(slots) == 0:
        raise InputError("memory is empty: nothing to resample")
    drawn = slots[torch.randint(len(slots), (len(slots),), generator=generator)]
    return torch.bincount(drawn, minlength=memory.capacity).float()
