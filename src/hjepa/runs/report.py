"""Small Markdown reports: tables of results and titled sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hjepa.runs.run_dir import atomic_write_text


def _cell(value: Any, float_fmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        text = format(value, float_fmt)
    elif hasattr(value, "item") and getattr(value, "shape", None) == ():  # tensor / numpy scalar
        return _cell(value.item(), float_fmt)
    else:
        text = str(value)
    # A pipe would end the cell; a newline would end the row.
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[dict], columns: list[str] | None = None, float_fmt: str = ".4g") -> str:
    """Render ``rows`` as a GitHub Markdown table.

    Args:
        rows: one dict per row; missing cells are left empty.
        columns: column order; by default every key, in first-seen order.
        float_fmt: ``format`` spec for floats, e.g. ``".3f"``.
    Returns:
        the table, ending with a newline (empty string when there are no columns).
    """
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            for key in row:
                seen.setdefault(key, None)
        columns = list(seen)
    if not columns:
        return ""
    header = "| " + " | ".join(_cell(c, float_fmt) for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_cell(row.get(c), float_fmt) for c in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body]) + "\n"


def write_report(path: Path | str, title: str, sections: list[tuple[str, str]]) -> Path:
    """Atomically write ``# title`` followed by one ``## heading`` + body per section."""
    parts = [f"# {title}\n"]
    for heading, body in sections:
        parts.append(f"## {heading}\n\n{body.rstrip()}\n")
    return atomic_write_text(Path(path), "\n".join(parts))
