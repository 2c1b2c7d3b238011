"""What made a run: the command line, the hjepa version, the git commit and the machine.

Written under the reserved key ``run`` of every ``config.json``, so that ``hjepa <command> --config
runs/<name>/config.json`` re-runs it and anyone can tell where its numbers came from.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from hjepa import __version__
from hjepa.runs.machine import machine_info

SOURCE = Path(__file__).resolve().parents[1]
"""The installed package's directory; a git checkout's commit is read from there."""


def git_commit(where: Path = SOURCE) -> str | None:
    """The commit of the checkout holding ``where`` (with ``+dirty`` for uncommitted changes), or None."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed: ``hjepa two-rooms --name x`` (or the script that ran it)."""
    argv = list(sys.argv if argv is None else argv)
    program = Path(argv[0]).name if argv else "python"
    if program in ("__main__.py", "-m") or program.startswith("python"):
        program = "hjepa"
    return shlex.join([program, *argv[1:]])


def provenance(command: str | None = None) -> dict:
    """``{"command", "subcommand", "hjepa_version", "git_commit", "machine"}`` of this process."""
    return {"command": command_line(), "subcommand": command, "hjepa_version": __version__,
            "git_commit": git_commit(), "machine": machine_info()}
