"""No committed file names a path of the machine it was written on (/work/..., /tmp/..., /home/...).

Results, docs and defaults name runs relative to the repository or to a runs root (``runs/...``,
``benchmarks/results``), so that they mean the same on every checkout.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("benchmarks", "docs", "src", "README.md")
ABSOLUTE = re.compile(r"(^|[^A-Za-z0-9_.\-])/(home|work|tmp|root|farm)/")


def tracked_files(where: str) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--", where], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def absolute_paths(path: Path) -> list[str]:
    """``file:line: text`` for each line of ``path`` that holds an absolute machine path (none if binary)."""
    try:
        data = path.read_bytes()
    except OSError:  # listed by git but gone from the work tree (being moved)
        return []
    if b"\0" in data[:8192]:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    rel = path.relative_to(ROOT).as_posix()
    return [f"{rel}:{n}: {line.strip()[:160]}" for n, line in enumerate(text.splitlines(), 1) if ABSOLUTE.search(line)]


def test_pattern():
    for bad in ("--out-dir /tmp/x", '"/work/main/benchmarks/results"', "`/home/u/runs`", "/root/a", "(/farm/b)"):
        assert ABSOLUTE.search(bad), bad
    for good in ("runs/bench/x", "benchmarks/results", "https://example.org/work/x", "a/tmp/b", "runs/tmp/x",
                 "/workspace/x", "tmp_path / 'x'"):
        assert not ABSOLUTE.search(good), good


@pytest.mark.parametrize("where", SCANNED)
def test_no_absolute_machine_paths_in_tracked_files(where):
    found = [hit for path in tracked_files(where) for hit in absolute_paths(path)]
    listing = "\n".join(found)
    assert not found, f"absolute machine paths (write them relative to the repository or a runs root):\n{listing}"
