"""Saving and loading the agent's learned parts: critic, policy and short-term memory.

Each is a plain dict of tensors, numbers and strings (``torch.load(weights_only=True)`` reads it)
that also records what it was trained for — the task's cost weights and discount — so a critic
trained for one cost is refused for another instead of silently mis-guiding the planner.
"""

from __future__ import annotations

import math
from pathlib import Path

from hjepa.agent.critic import Critic
from hjepa.agent.critic_ensemble import CriticEnsemble
from hjepa.agent.memory import ShortTermMemory
from hjepa.agent.policy import GoalPolicy
from hjepa.errors import InputError
from hjepa.runs.run_dir import RunDir, load_checkpoint

CRITIC_FORMAT = "hjepa.agent.critic/1"
POLICY_FORMAT = "hjepa.agent.policy/1"


def critic_state(critic: Critic | CriticEnsemble, hidden: int, layers: int, weights: dict[str, float],
                 discount: float, task: dict) -> dict:
    """Checkpoint dict of ``critic`` (or an ensemble of critics) trained for cost ``weights`` with ``discount``."""
    members = len(critic.members) if isinstance(critic, CriticEnsemble) else 1
    return {
        "format": CRITIC_FORMAT, "members": members, "state_dim": critic.state_dim, "goal_dim": critic.goal_dim,
        "hidden": hidden,
        "layers": layers, "value_scale": float(critic.value_scale), "weights": dict(weights),
        "discount": float(discount), "task": task, "model": critic.state_dict(),
    }


def policy_state(policy: GoalPolicy, hidden: int, layers: int, weights: dict[str, float], task: dict) -> dict:
    """Checkpoint dict of ``policy`` distilled for the task with cost ``weights``."""
    return {
        "format": POLICY_FORMAT, "state_dim": policy.state_dim, "goal_dim": policy.goal_dim,
        "action_dim": policy.action_dim, "max_action": policy.max_action, "hidden": hidden, "layers": layers,
        "stochastic": policy.stochastic, "weights": dict(weights), "task": task, "model": policy.state_dict(),
    }


def save_learned(run: RunDir, critic: dict | None, policy: dict | None, memory: ShortTermMemory | None) -> list[Path]:
    """Write ``checkpoints/critic.pt``, ``policy.pt`` and ``memory.pt`` (those given)."""
    paths = []
    if critic is not None:
        paths.append(run.save_checkpoint("critic", critic))
    if policy is not None:
        paths.append(run.save_checkpoint("policy", policy))
    if memory is not None:
        paths.append(run.save_checkpoint("memory", memory.state_dict()))
    return paths


def _check_weights(kind: str, path: Path, stored: dict, weights: dict[str, float]) -> None:
    same = set(stored) == set(weights) and all(math.isclose(stored[k], weights[k]) for k in weights)
    if not same:
        raise InputError(
            f"the {kind} in {path} was trained for cost weights {stored}, but this task's cost has {weights}; "
            "train one for this task (`hjepa agent train` with the same --task and options)"
        )


def _check_finite(kind: str, path: Path, weights: dict) -> None:
    bad = [name for name, value in weights.items() if value.is_floating_point() and not bool(value.isfinite().all())]
    if bad:
        raise InputError(f"the {kind} in {path} has NaN or inf weights ({', '.join(bad[:3])}...): its training diverged; "
                         "train it again with a lower learning rate")


def load_critic(path: Path, weights: dict[str, float], discount: float) -> Critic | CriticEnsemble:
    """The critic at ``path``, checked to match the cost ``weights`` and ``discount``."""
    state = load_checkpoint(path)
    if state.get("format") != CRITIC_FORMAT:
        raise InputError(f"{path} is not a critic checkpoint (format {state.get('format')!r})")
    _check_weights("critic", path, state["weights"], weights)
    if not math.isclose(state["discount"], discount):
        raise InputError(f"the critic in {path} was trained with discount {state['discount']}, this task uses {discount}")
    members = [Critic(state["state_dim"], state["goal_dim"], state["hidden"], state["layers"], state["value_scale"])
               for _ in range(int(state.get("members", 1)))]
    critic = members[0] if len(members) == 1 else CriticEnsemble(members)
    _check_finite("critic", path, state["model"])
    critic.load_state_dict(state["model"])
    return critic.eval()


def load_policy(path: Path, weights: dict[str, float]) -> GoalPolicy:
    """The policy at ``path``, checked to match the cost ``weights``."""
    state = load_checkpoint(path)
    if state.get("format") != POLICY_FORMAT:
        raise InputError(f"{path} is not a policy checkpoint (format {state.get('format')!r})")
    _check_weights("policy", path, state["weights"], weights)
    policy = GoalPolicy(state["state_dim"], state["goal_dim"], state["action_dim"], state["max_action"],
                        state["hidden"], state["layers"], bool(state.get("stochastic", False)))
    _check_finite("policy", path, state["model"])
    policy.load_state_dict(state["model"])
    return policy.eval()


def load_memory(path: Path) -> ShortTermMemory:
    """The short-term memory saved at ``path``."""
    return ShortTermMemory.from_state_dict(load_checkpoint(path))
