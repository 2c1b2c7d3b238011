"""Learning-rate schedule of the SSL papers: linear warm-up, then a half-cosine decay."""

from __future__ import annotations

import math

from hjepa.errors import InputError


def warmup_cosine(
    step: int, total_steps: int, warmup_steps: int, base_lr: float, final_fraction: float = 0.0
) -> float:
    """Learning rate of optimiser step ``step`` (0-based).

    - warm-up, ``step < warmup_steps``: ``base_lr * (step + 1) / warmup_steps``, a linear ramp that
      reaches ``base_lr`` on the last warm-up step (the first step already trains, at
      ``base_lr / warmup_steps``);
    - decay: a half cosine from ``base_lr`` at ``step = warmup_steps`` down to
      ``final_fraction * base_lr`` at ``step = total_steps`` (and held there beyond it).

    Non-decreasing during warm-up, non-increasing afterwards. With ``warmup_steps >= total_steps``
    every step is a warm-up step.

    Args:
        step: the step, ``>= 0``.
        total_steps: length of the run, ``>= 1``.
        warmup_steps: steps of linear warm-up, ``>= 0``.
        base_lr: peak learning rate, ``>= 0``.
        final_fraction: end of the cosine as a fraction of ``base_lr``, in ``[0, 1]``.
    Raises:
        ValueError: an argument out of range.
    """
    if step < 0 or total_steps < 1 or warmup_steps < 0:
        raise InputError(
            f"need step >= 0, total_steps >= 1, warmup_steps >= 0; got {step}, {total_steps}, {warmup_steps}"
        )
    if not (base_lr >= 0 and math.isfinite(base_lr)):
        raise InputError(f"base_lr must be a finite number >= 0, got {base_lr}")
    if not 0.0 <= final_fraction <= 1.0:
        raise InputError(f"final_fraction must be in [0, 1], got {final_fraction}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return base_lr * (final_fraction + (1.0 - final_fraction) * cosine)
