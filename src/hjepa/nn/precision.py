"""Numeric precision: where bf16 autocast pays on the CPU.

On CPUs with native bf16 (AVX512-BF16 or AMX) autocast runs convolutions and matrix products
1.5-3x faster; elsewhere bf16 is emulated and can be 10x slower, so ``'auto'`` turns it on only
where the CPU has it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

Precision = Literal["auto", "fp32", "bf16"]

CPUINFO = Path("/proc/cpuinfo")


def native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU's flags (``/proc/cpuinfo``) include native bf16 (``avx512_bf16`` or ``amx_bf16``)
    and torch may use them: ``ATEN_CPU_CAPABILITY=avx2`` (or ``default``) or a oneDNN ISA cap below
    AVX-512 (``ONEDNN_MAX_CPU_ISA=AVX2``) make the CPU behave as an AVX2-only one, which has none."""
    if os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower() in ("avx2", "default"):
        return False
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper().startswith(("AVX2", "SSE")):
        return False
    try:
        flags = cpuinfo.read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_bf16(precision: Precision) -> bool:
    """Whether to use bf16 autocast on the CPU: ``'bf16'`` yes, ``'fp32'`` no, ``'auto'`` where native."""
    if precision == "bf16":
        return True
    if precision == "fp32":
        return False
    return native_bf16()
