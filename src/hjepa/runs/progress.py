"""Progress of long loops on stderr: a tqdm bar on a terminal, plain lines in a log file.

``progress(range(1500), desc="train world model")`` returns an object used like a tqdm bar:
iterate over it, or call ``update(n)``; ``set_postfix(loss="0.123")`` adds values; ``close()`` ends it.

- stderr is a terminal: a tqdm bar, redrawn in place.
- stderr is not a terminal (output redirected to a file, a batch job): a ``LineProgress`` that
  writes one line every ``HJEPA_PROGRESS_SECONDS`` seconds (10 by default; 0 writes one per
  update) and a last line at ``close()`` (iterating to the end closes it)::

      train world model: 120/1500 steps (8%), 14.2 s elapsed, ~160 s left, loss=0.123
      train world model: 1500/1500 steps (100%), 171.0 s, done, loss=0.101

- ``enabled=False``, or ``HJEPA_PROGRESS=0`` in the environment: nothing is written.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Iterable, Iterator, TypeVar, Union

from tqdm import tqdm

T = TypeVar("T")

PROGRESS_ENV = "HJEPA_PROGRESS"
SECONDS_ENV = "HJEPA_PROGRESS_SECONDS"
DEFAULT_SECONDS = 10.0


def progress_enabled(enabled: bool = True) -> bool:
    """Whether progress is shown: ``enabled`` and not switched off with ``HJEPA_PROGRESS=0``."""
    return enabled and os.environ.get(PROGRESS_ENV, "1").strip() != "0"


def line_interval() -> float:
    """Seconds between two progress lines: ``HJEPA_PROGRESS_SECONDS`` (>= 0), else 10."""
    try:
        seconds = float(os.environ.get(SECONDS_ENV, DEFAULT_SECONDS))
    except ValueError:
        return DEFAULT_SECONDS
    return seconds if seconds >= 0 else DEFAULT_SECONDS


def _format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class LineProgress:
    """The part of tqdm's interface that hjepa uses (iteration, ``update``, ``set_postfix``, ``close``,
    ``n``, ``total``, ``disable``), writing plain lines to stderr for logs. With ``total`` None (an
    iterable without a length) the lines leave out the percentage and the time left. ``interval``
    None reads ``HJEPA_PROGRESS_SECONDS``; other tqdm options are accepted and ignored."""

    disable = False

    def __init__(self, iterable: Iterable | None = None, desc: str = "", total: int | None = None,
                 initial: int = 0, unit: str = "steps", interval: float | None = None, **_tqdm_options: Any) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.n = self.initial = int(initial)
        self.interval = line_interval() if interval is None else interval
        self.postfix: dict[str, Any] = {}
        self.start = self.last_line = time.perf_counter()
        self.closed = False

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable if self.iterable is not None else ():
                yield item
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more; write a line when ``interval`` seconds have passed since the last one."""
        self.n += n
        now = time.perf_counter()
        if now - self.last_line >= self.interval and not self.closed:
            self.last_line = now
            self._write(self.line(now))

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **values: Any) -> None:
        """Replace the values shown after the counts (as tqdm's ``set_postfix``; nothing is written now)."""
        self.postfix = {**(ordered_dict or {}), **values}

    def close(self) -> None:
        """Write the final line (once)."""
        if not self.closed:
            self.closed = True
            self._write(self.line(time.perf_counter(), final=True))

    def line(self, now: float, final: bool = False) -> str:
        """``desc: n/total unit (p%), s elapsed, ~s left, key=value, ...``; the final line says ``s, done``
        (``s, stopped`` when it closes before ``total``, e.g. a loop left by an exception)."""
        elapsed = now - self.start
        counts = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        if self.total:
            counts += f" ({100 * self.n / self.total:.0f}%)"
        parts = [counts]
        if final:
            parts.append(f"{elapsed:.1f} s, " + ("stopped" if self.total and self.n < self.total else "done"))
        else:
            parts.append(f"{elapsed:.1f} s elapsed")
            done = self.n - self.initial
            if self.total and done > 0:
                parts.append(f"~{elapsed / done * max(self.total - self.n, 0):.0f} s left")
        parts += [f"{key}={_format_value(value)}" for key, value in self.postfix.items()]
        return f"{self.desc}: " * bool(self.desc) + ", ".join(parts)

    @staticmethod
    def _write(line: str) -> None:
        print(line, file=sys.stderr, flush=True)


Progress = Union[tqdm, LineProgress]


def progress(iterable_or_total: Iterable[T] | int, desc: str = "", enabled: bool = True, **kwargs) -> Progress:
    """Wrap an iterable (or ``range(total)`` for an int) in progress: a tqdm bar when stderr is a
    terminal, a ``LineProgress`` when it is not, a disabled (silent) tqdm when ``enabled`` is False
    or the environment sets ``HJEPA_PROGRESS=0``. Extra ``kwargs`` go to tqdm (``total``,
    ``initial``, ``unit``, ...); the line form uses ``total``, ``initial`` and ``unit`` of them."""
    if isinstance(iterable_or_total, int):
        iterable: Iterable = range(iterable_or_total)
        kwargs.setdefault("total", iterable_or_total)
    else:
        iterable = iterable_or_total
    if not progress_enabled(enabled):
        return tqdm(iterable, desc=desc, disable=True, **kwargs)
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return LineProgress(iterable, desc=desc, **kwargs)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, desc=desc, **kwargs)


class Stages:
    """Progress over a known number of named stages of unequal length (one count per stage)::

        stages = Stages(3, "ssl eval", enabled=True)
        stages.start("train features"); ...   # the postfix names the stage under way
        stages.start("linear probe"); ...     # counts the previous stage as done
        stages.start("k-NN"); ...
        stages.close()                        # counts the last one; the final line
    """

    def __init__(self, total: int, desc: str = "", enabled: bool = True) -> None:
        self.bar = progress(total, desc=desc, enabled=enabled, unit="stages")
        self.running = False

    def start(self, name: str) -> None:
        """Name the next stage and count the one before it as done."""
        self.bar.set_postfix(stage=name)
        if self.running:
            self.bar.update(1)
        self.running = True

    def close(self) -> None:
        if self.running:
            self.bar.set_postfix()
            self.bar.update(1)
            self.running = False
        self.bar.close()
