"""Reading the ``metrics.jsonl`` log written by ``RunDir.log``."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hjepa.errors import InputError


def read_metrics(path: Path | str) -> list[dict]:
    """Read one JSON object per line.

    A last line that does not parse (a run killed mid-write) is ignored; a bad line anywhere else
    raises ``ValueError`` naming the file and line. Blank lines are skipped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics file not found: {path}")
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    # Index of the last non-blank line: only it may be partial.
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records: list[dict] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if i == last:
                break
            raise InputError(f"{path}, line {i + 1}: not valid JSON ({err})") from err
        if not isinstance(record, dict):
            if i == last:
                break
            raise InputError(f"{path}, line {i + 1}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
    return records


def metric_series(metrics: list[dict], key: str) -> tuple[list[float], list[float]]:
    """``(steps, values)`` of the records that hold a finite number under ``key``.

    The step is the record's ``"step"`` when present, else its index in ``metrics``.
    """
    steps: list[float] = []
    values: list[float] = []
    for i, record in enumerate(metrics):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        step = record.get("step", i)
        steps.append(float(step if isinstance(step, (int, float)) else i))
        values.append(float(value))
    return steps, values


def numeric_keys(metrics: list[dict], exclude: tuple[str, ...] = ("step",)) -> list[str]:
    """Keys (in first-seen order) that hold a number in at least one record."""
    keys: dict[str, None] = {}
    for record in metrics:
        for key, value in record.items():
            if key in exclude or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                keys.setdefault(key, None)
    return list(keys)
