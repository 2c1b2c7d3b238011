"""Peak memory (RSS) and wall time of the demo, run as a subprocess.

By default runs ``hjepa two-rooms --name bench-memory --overwrite`` (the demo's default config)
plus any ``--extra-args``, then reports the child's peak resident set size
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``), its wall time and the headline figures of
the run's ``summary.json``. ``--command`` replaces the whole command (then only memory and time
are reported, unless ``--summary`` names the summary.json it writes). Target: <= 2 GiB.

    python benchmarks/demo_memory.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/demo_memory.py --suffix _avx2
    python benchmarks/demo_memory.py --extra-args "--train.steps 30 --eval.episodes 4 --data.episodes 100"
"""

from __future__ import annotations

import json
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tyro

from common import RESULTS_DIR, write_result

TARGET_GIB = 2.0


@dataclass(frozen=True)
class Config:
    """Demo memory benchmark."""

    name: str = "bench-memory"
    """Run name of the demo run (results in <runs_root>/<name>/)."""
    runs_root: Path = Path("runs")
    """Directory holding run directories."""
    extra_args: str = ""
    """Extra `hjepa two-rooms` arguments, one quoted string (e.g. "--train.steps 30 --no-progress")."""
    command: str | None = None
    """Run this shell-quoted command instead of the demo."""
    summary: Path | None = None
    """summary.json written by --command (default: <runs_root>/<name>/summary.json for the demo)."""
    suffix: str = ""
    """Appended to the result name (e.g. _avx2 for a run as an AVX2-only CPU)."""
    out_dir: Path = RESULTS_DIR
    """Where <script><suffix>.json is written."""


def demo_command(config: Config) -> list[str]:
    return [sys.executable, "-m", "hjepa.cli", "two-rooms", "--name", config.name, "--runs-root",
            str(config.runs_root), "--overwrite", *shlex.split(config.extra_args)]


def main(config: Config) -> Path:
    argv = shlex.split(config.command) if config.command else demo_command(config)
    summary_path = config.summary or (None if config.command else config.runs_root / config.name / "summary.json")
    start = time.perf_counter()
    completed = subprocess.run(argv)
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"command failed with exit code {completed.returncode}: {shlex.join(argv)}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    peak_gib = peak_kib / 2**20
    row = {
        "peak_rss_MiB": peak_kib / 1024,
        "peak_rss_GiB": peak_gib,
        "target_2GiB_met": peak_gib <= TARGET_GIB,
        "wall_seconds": wall,
    }
    if summary_path is not None and Path(summary_path).exists():
        summary = json.loads(Path(summary_path).read_text())
        controllers = summary.get("controllers", {})
        by_kind = {k.split(" + ")[0]: v for k, v in controllers.items()}
        row.update({
            "success_rate": summary.get("success_rate"),
            "random_success_rate": by_kind.get("random actions", {}).get("success_rate"),
            "simulator_success_rate": by_kind.get("true simulator", {}).get("success_rate"),
            "planning_ms_per_step": summary.get("planning_ms_per_step"),
            "train_seconds": summary.get("train_seconds"),
            "total_seconds": summary.get("total_seconds"),
        })
    return write_result(
        config.out_dir, "demo_memory" + config.suffix, "Demo peak memory" + (f" ({config.suffix.strip('_')})" if config.suffix else ""),
        "Peak resident set size (RUSAGE_CHILDREN ru_maxrss) and wall time of the command "
        f"`{config.command or shlex.join(['hjepa', *argv[3:]])}` run as a subprocess, "
        "with the headline figures of its summary.json.",
        config,
        ["peak_rss_MiB", "peak_rss_GiB", "target_2GiB_met", "wall_seconds", "success_rate", "random_success_rate",
         "simulator_success_rate", "planning_ms_per_step", "train_seconds", "total_seconds"],
        [row],
        notes=f"Target: peak RSS <= {TARGET_GIB:g} GiB.",
    )


if __name__ == "__main__":
    main(tyro.cli(Config))
