"""What every benchmark script shares: the machine description, timing statistics and the
result file (``<out_dir>/<benchmark>.json``, written atomically) that ``update_results.py`` reads.

Result file format (``format: hjepa.benchmark/1``)::

    {"format", "benchmark", "title", "description", "command", "date", "machine",
     "config", "columns", "rows", "notes"}

``rows`` is a list of flat dicts; ``columns`` fixes the order of the printed table.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch

from hjepa.runs.report import markdown_table
from hjepa.runs.run_dir import atomic_write_text, to_jsonable

FORMAT = "hjepa.benchmark/1"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's model name from ``lscpu`` (falls back to /proc/cpuinfo, then platform)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, env={**os.environ, "LC_ALL": "C"}).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Where a number was measured: CPU, cores, OS, Python, torch version and its thread count."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def machine_line(machine: dict) -> str:
    return (f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, torch {machine.get('torch', '?')} "
            f"with {machine.get('torch_threads', '?')} threads, {machine.get('platform', '?')}")


def command_line() -> str:
    """The command that produced the result, as typed (relative script path, quoted args)."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd())
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


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
        "description": description,
        "command": command or command_line(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": to_jsonable(asdict(config) if is_dataclass(config) else config),
        "columns": columns,
        "rows": to_jsonable(rows),
        "notes": notes,
    }
    path = Path(out_dir) / f"{benchmark}.json"
    atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=True) + "\n")
    print(f"## {title}\n")
    print(markdown_table(rows, columns, float_fmt=".4g"))
    if notes:
        print(notes + "\n")
    print(f"written to {path}")
    return path
