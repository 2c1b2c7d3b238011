"""Where a number was measured: the CPU, its vector-instruction kind, cores, Python and torch.

Timings and even results (a float rounding that flips one episode) depend on the CPU kind: torch
picks AVX2 or AVX-512 kernels at start-up, and oneDNN uses AMX where present. ``machine_info()``
is what every benchmark result and run summary records; ``cpu_kind()`` is read from
/proc/cpuinfo's flags, lowered to what ``ATEN_CPU_CAPABILITY`` tells torch to use.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")
"""Read by ``cpu_kind`` and ``cpu_model``; a module constant so that tests can point it elsewhere."""

# ATen's dispatch levels (ATEN_CPU_CAPABILITY values) and the kind each one stands for, lowest first.
_ATEN_LEVELS = {"default": (0, "other"), "avx2": (1, "AVX2"), "avx512": (2, "AVX-512")}
# The ATen level a CPU kind reaches: AMX has no ATen level of its own (its kernels are oneDNN's).
_KIND_LEVEL = {"other": 0, "AVX2": 1, "AVX-512": 2, "AMX": 2}


def _flags(cpuinfo: Path) -> set[str] | None:
    """The first ``flags`` line of ``cpuinfo`` as a set; empty when it has none; None when unreadable."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split()) if ":" in line else set()
    return set()


def hardware_cpu_kind(cpuinfo: Path | None = None) -> str:
    """``"AMX"``, ``"AVX-512"``, ``"AVX2"`` or ``"other"`` from the CPU flags; ``"unknown"`` if unreadable."""
    flags = _flags(CPUINFO if cpuinfo is None else cpuinfo)
    if flags is None:
        return "unknown"
    if flags & {"amx_bf16", "amx_tile"}:
        return "AMX"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    return "other"


def cpu_kind(cpuinfo: Path | None = None) -> str:
    """The CPU's vector-instruction kind as torch will use it.

    One of ``"AMX"``, ``"AVX-512"``, ``"AVX2"``, ``"other"``, ``"unknown"`` (cpuinfo unreadable), or,
    when ``ATEN_CPU_CAPABILITY`` asks torch for less than the hardware has, the lower kind with the
    reason, e.g. ``"AVX2 (ATEN_CPU_CAPABILITY=avx2 on an AVX-512 CPU)"``. A value torch does not
    know, or one above the hardware, leaves the hardware's kind.
    """
    hardware = hardware_cpu_kind(cpuinfo)
    requested = os.environ.get("ATEN_CPU_CAPABILITY", "").strip()
    level = _ATEN_LEVELS.get(requested.lower())
    if hardware == "unknown" or level is None or level[0] >= _KIND_LEVEL[hardware]:
        return hardware
    article = "an" if hardware[0] in "AEIOU" else "a"
    return f"{level[1]} (ATEN_CPU_CAPABILITY={requested} on {article} {hardware} CPU)"


def cpu_model(cpuinfo: Path | None = None) -> str:
    """The CPU's model name from ``lscpu`` (falls back to cpuinfo, then ``platform``)."""
    try:
        out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True, timeout=10,
                             env={**os.environ, "LC_ALL": "C"}).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for line in Path(CPUINFO if cpuinfo is None else cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """``{"cpu", "cpu_kind", "cores", "platform", "python", "torch", "torch_threads"}`` of this process."""
    return {
        "cpu": cpu_model(),
        "cpu_kind": cpu_kind(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
