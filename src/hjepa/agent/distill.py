"""Compiling Mode-2 into Mode-1: DAgger (Ross, Gordon and Bagnell, 2011) with a planner as expert.

Behaviour cloning alone trains the policy on the states the *planner* visits; once the policy
acts, its small errors lead it to states the planner never saw, where it has no data. DAgger fixes
that by labelling the states the *policy* visits:

    round 0: the planner acts; its own actions label the visited states (memory holds them);
    round r >= 1: fit the policy on every label so far, run the policy, and have the planner say in
             each visited state what it would have done (the teacher's action); aggregate.

A final fit uses all labels. As in the published algorithm, every fit starts from a freshly
initialised policy (``fresh``): continuing from the previous round's weights adds up many fits of
the same noisy labels and over-fits them (on Two Rooms, 12 rounds: 86% success continued, 94-98%
refitted from scratch on the same labels, docs/agent.md). Labels live in short-term memory
(``teacher_actions``), so the aggregated data set is simply every labelled step memory still holds.

:func:`dagger` is generic: ``collect(round)`` runs the current policy in some world with some
teacher and stores labelled episodes; the Two Rooms pipeline passes one that runs
:func:`~hjepa.agent.episodes.run_episodes` with a Mode-1 agent and a Mode-2 teacher.
"""

from __future__ import annotations

from typing import Callable

import torch

from hjepa.agent.memory import ShortTermMemory
from hjepa.agent.policy import GoalPolicy, fit_policy
from hjepa.errors import InputError
from hjepa.runs.progress import progress as progress_bar


def dagger(
    policy: GoalPolicy,
    memory: ShortTermMemory,
    collect: Callable[[int], dict],
    rounds: int,
    fit_steps: int,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    log: Callable[[dict, int], None] | None = None,
    progress: bool = False,
    fresh: bool = True,
    checkpoint: Callable[[int, list[dict]], None] | None = None,
    first_round: int = 0,
    history: list[dict] | None = None,
) -> list[dict]:
    """Run ``rounds`` DAgger rounds, then a final fit; returns one record per round.

    Args:
        policy: trained in place.
        memory: holds the labelled steps (at least round 0's before the call).
        collect: ``collect(round) -> stats``: run the current policy, store its episodes with the
            teacher's labels in ``memory``; ``stats`` (floats) are logged with the round.
        rounds: policy-driven rounds (0 = plain behaviour cloning on what memory holds).
        fit_steps: AdamW steps of each fit.
        batch_size, lr, weight_decay: fit settings.
        generator: minibatch randomness.
        log: ``log(record, round)`` after every round (e.g. ``RunDir.log``).
        fresh: re-initialise the policy's parameters (torch's default initialisation, from the
            global generator) before every fit, instead of continuing from the last fit.
        checkpoint: ``checkpoint(round, history)`` when each round starts (to save a resume point).
        first_round, history: continue from a round's start with the records of the rounds before it.
    """
    if rounds < 0 or fit_steps < 1:
        raise InputError(f"rounds must be >= 0 and fit_steps >= 1, got {rounds} and {fit_steps}")
    history = list(history or [])
    bar = progress_bar(range(first_round, rounds + 1), desc="dagger", enabled=progress)
    for round_index in bar:
        if checkpoint is not None:
            checkpoint(round_index, history)
        states, goals, targets = memory.labelled()
        if states.shape[0] == 0:
            raise InputError("memory holds no labelled steps: store teacher-labelled episodes first")
        if fresh:
            reinitialise(policy)
        losses = fit_policy(policy, states, goals, targets, fit_steps, batch_size, lr, weight_decay, generator)
        record = {"dagger_round": round_index, "labels": int(states.shape[0]),
                  "policy_loss": sum(losses[-50:]) / len(losses[-50:])}
        if round_index < rounds:
            stats = collect(round_index + 1)
            record.update({f"round_{key}": value for key, value in stats.items()})
        history.append(record)
        if log is not None:
            log(record, round_index)
        bar.set_postfix(loss=f"{record['policy_loss']:.3f}", refresh=False)
    return history


def reinitialise(module: torch.nn.Module) -> None:
    """Draw new initial parameters for every submodule of ``module`` that has ``reset_parameters``."""
    for child in module.modules():
        if child is not module and hasattr(child, "reset_parameters"):
            child.reset_parameters()
