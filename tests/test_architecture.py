"""The package's structure is a checked contract: layers import only downward (import-linter, the
contract in pyproject.toml), the code passes ruff (lint and import order), no source file exceeds
400 lines, and no function hides an import of hjepa itself (only optional third-party packages may
be imported lazily)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "hjepa"


def test_layers_import_only_downward(monkeypatch):
    monkeypatch.chdir(ROOT)  # the contract is read from pyproject.toml
    assert lint_imports(no_cache=True) == 0, "a package imports from a layer above it: run `lint-imports` to see which"


def test_ruff_passes():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_source_file_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these files (one idea per file, at most 400 lines): {long}"


def test_no_function_imports_hjepa():
    hidden = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("hjepa"):
                        hidden.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not hidden, f"imports of hjepa inside functions hide the dependency graph: {hidden}"
