"""Optimisers and learning-rate schedules for self-supervised training.

``lars``: LARS (layer-wise adaptive rate scaling) as used by VICReg and BYOL.
``schedule``: linear warm-up followed by cosine decay.
"""

from hjepa.optim.lars import LARS, excluded_from_adaptation
from hjepa.optim.schedule import warmup_cosine

__all__ = ["LARS", "excluded_from_adaptation", "warmup_cosine"]
