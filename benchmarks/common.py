"""What every benchmark script shares: the machine description (``hjepa.runs.machine``), timing
statistics and the result file (``<out_dir>/<benchmark>.json``, written atomically) that
``update_results.py`` reads. Paths inside the repository are written relative to it.

Result file format (``format: hjepa.benchmark/1``)::

    {"format", "benchmark", "title", "description", "command", "date", "machine",
     "config", "columns", "rows", "notes"}

``rows`` is a list of flat dicts; ``columns`` fixes the order of the printed table.
"""

from __future__ import annotations

import datetime
import json
import shlex
import statistics
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path

from hjepa.runs.allocator import keep_freed_memory
from hjepa.runs.machine import cpu_model, machine_info  # noqa: F401  (cpu_model: re-exported for the scripts)
from hjepa.runs.report import markdown_table
from hjepa.runs.run_dir import atomic_write_text, to_jsonable

FORMAT = "hjepa.benchmark/1"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
MALLOC_TUNED = keep_freed_memory()
"""Every benchmark script imports this module first: the allocator is tuned as in the ``hjepa`` CLI."""
REPO_ROOT = RESULTS_DIR.parent.parent
CPU_KIND_NOT_RECORDED = ("CPU kind not recorded (measured before 2026-12-07 on the project's AMD EPYC "
                         "machine)")


def machine_line(machine: dict) -> str:
    """``cpu, CPU kind K, N cores, T torch threads (torch V)``; results before 2026-12-07 lack the kind."""
    kind = machine.get("cpu_kind")
    kind = f"CPU kind {kind}" if kind else CPU_KIND_NOT_RECORDED
    threads = machine.get("torch_threads", "?")
    return (f"{machine.get('cpu', '?')}, {kind}, {machine.get('cores', '?')} cores, "
            f"{threads} torch thread{'' if threads == 1 else 's'} (torch {machine.get('torch', '?')})")


def relative_paths(value, root: Path = REPO_ROOT):
    """``value`` (str, or lists / dicts of them) with paths inside ``root`` made relative to it.

    Result files are committed: they name runs and checkpoints relative to the repository (or to a
    runs root given on the command line, as typed), never by this machine's absolute path.
    """
    if isinstance(value, str):
        prefix = str(root)
        if value == prefix:
            return "."
        return value.replace(prefix + "/", "")
    if isinstance(value, list):
        return [relative_paths(v, root) for v in value]
    if isinstance(value, dict):
        return {k: relative_paths(v, root) for k, v in value.items()}
    return value


def command_line() -> str:
    """The command that produced the result, as typed (relative script path, quoted args)."""
    script = Path(sys.argv[0])
    for base in (Path.cwd(), REPO_ROOT):
        try:
            script = script.resolve().relative_to(base)
            break
        except ValueError:
            pass
    return relative_paths(shlex.join(["python", str(script), *sys.argv[1:]]))


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_result(
    out_dir: Path,
    benchmark: str,
    title: str,
    description: str,
    config,
    columns: list[str],
    rows: list[dict],
    notes: str = "",
    command: str | None = None,
) -> Path:
    """Write ``<out_dir>/<benchmark>.json`` atomically, print the markdown table, return the path."""
    payload = {
        "format": FORMAT,
        "benchmark": benchmark,
        "title": title,
        "description": relative_paths(description),
        "command": relative_paths(command or command_line()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_info(), "malloc_tuning": MALLOC_TUNED},
        "config": relative_paths(to_jsonable(asdict(config) if is_dataclass(config) else config)),
        "columns": columns,
        "rows": relative_paths(to_jsonable(rows)),
        "notes": relative_paths(notes),
    }
    path = Path(out_dir) / f"{benchmark}.json"
    atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=True) + "\n")
    print(f"## {title}\n")
    print(markdown_table(rows, columns, float_fmt=".4g"))
    if notes:
        print(notes + "\n")
    print(f"written to {path}")
    return path
