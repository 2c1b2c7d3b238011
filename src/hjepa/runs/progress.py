"""Progress bars for long loops (tqdm on stderr)."""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")

PROGRESS_ENV = "HJEPA_PROGRESS"


def progress_enabled(enabled: bool = True) -> bool:
    """Whether bars are shown: ``enabled`` and not switched off with ``HJEPA_PROGRESS=0``."""
    return enabled and os.environ.get(PROGRESS_ENV, "1").strip() != "0"


def progress(iterable_or_total: Iterable[T] | int, desc: str = "", enabled: bool = True, **kwargs) -> tqdm:
    """Wrap an iterable (or ``range(total)`` for an int) in a tqdm bar.

    The bar is disabled when ``enabled`` is False or the environment sets ``HJEPA_PROGRESS=0``.
    When stderr is not a terminal (logs redirected to a file) the bar refreshes at most every
    30 s, so long runs still report progress without filling the log. Extra ``kwargs`` go to tqdm.
    """
    if isinstance(iterable_or_total, int):
        iterable: Iterable = range(iterable_or_total)
        kwargs.setdefault("total", iterable_or_total)
    else:
        iterable = iterable_or_total
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        kwargs.setdefault("mininterval", 30.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, desc=desc, disable=not progress_enabled(enabled), **kwargs)
