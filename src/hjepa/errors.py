"""The errors a user can cause, kept apart from bugs.

The ``hjepa`` command turns an :class:`InputError` (a bad value, an impossible combination of
options, a file whose content is not what it should be) and a :class:`NonFiniteLoss` (a training
run diverged: the message names the step and the loss terms) into one line on stderr and exit code
2. Any other exception is a bug and keeps its traceback. Both subclass the built-in exception they
refine (``ValueError``, ``FloatingPointError``), so ``except ValueError`` still catches them.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a value out of range, options that contradict each other, a corrupt or foreign file."""


class NonFiniteLoss(FloatingPointError):
    """A training loss (or a trained weight) became NaN or infinite; nothing was saved after it."""


MAX_SEED = 2**53
"""Seeds are integers in ``[0, MAX_SEED)``: exact in any JSON reader, and with headroom for the seeds
derived from them (``seed + 100000 + r``, ``1000 * (seed + 1) + 200 + r``), which torch's generators
take up to ``2**64 - 1``; numpy's refuse negative seeds."""


def check_seed(name: str, seed: int) -> None:
    """Raise :class:`InputError` (naming the option ``name``) unless ``seed`` is an integer in ``[0, MAX_SEED)``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise InputError(f"{name} must be an integer in [0, 2**53), got {seed!r}")
