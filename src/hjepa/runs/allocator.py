"""Keep freed memory in the process: glibc's allocator otherwise hands big tensors back to the OS.

A training step or a planning call allocates and frees the same few tensors of 1-30 MB again and
again (a planning batch of 4096 rollouts of the Two Rooms predictor makes 16 MB feature maps).
glibc serves such blocks with ``mmap`` and returns them with ``munmap`` (or trims the heap top),
so every call page-faults fresh, zeroed pages: on the demo's predictor this doubled the time of a
forward pass (benchmarks/RESULTS.md, "Allocator"). Raising the mmap threshold to glibc's maximum
(32 MiB) and the trim threshold to 1 GiB keeps those blocks in the heap for reuse; the cost is
that the process's resident memory stays at its peak instead of shrinking after it.

Called once by the entry points (``hjepa`` CLI, benchmark scripts, the test session); the library
itself never changes process settings. ``HJEPA_MALLOC_TUNING=0`` turns it off (to measure both ways).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameter numbers (malloc.h)."""
MMAP_THRESHOLD = 32 * 1024 * 1024
"""glibc's largest allowed mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)."""
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Tune glibc malloc as described above; returns whether it was applied (False off glibc,
    e.g. macOS or musl, or with ``HJEPA_MALLOC_TUNING=0``)."""
    if os.environ.get("HJEPA_MALLOC_TUNING", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
