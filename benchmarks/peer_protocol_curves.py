"""Success against CPU-minutes on stable-worldmodel's protocol (and Two Rooms on our own cross-room protocol,
its own panel), from ``results/peer_protocol.json``.

Each point is one recipe's learned controller (``cpu_minutes``: data + training + planning of its
runs, one torch thread), on validation (hollow) and test (filled) tasks, with the binomial standard
error. Recipes of one family that differ only in how much they spend (PLDM + proprio: 800 episodes
and 4000 steps, three times both, then practice rounds on top) are joined by a line, which is the
learning curve of that recipe against compute; the published numbers of the peers are dashed lines.

    python benchmarks/peer_protocol_curves.py      # -> results/peer_protocol_curves.png and .md
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import tyro
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from common import RESULTS_DIR

FAMILIES = {"PLDM + proprio": ("pldm-proprio", "pldm-proprio-3x", "pldm-proprio-3x-practice")}
"""Recipes joined by a line, in order of compute."""
PUBLISHED = {"pusht": {"DINO-WM": 74, "PLDM": 78, "LeWM": 96}, "reacher": {"DINO-WM": 79, "PLDM": 78, "LeWM": 86},
             "two-rooms": {"PLDM": 97}, "cube": {"DINO-WM": 86, "PLDM": 65, "LeWM": 74}}
"""stable-worldmodel's table (CEM), success %."""
TARGETS = {"pusht": 80, "reacher": 80, "two-rooms": 97, "two-rooms (hjepa protocol)": 95}
"""Issue 18's targets on test tasks, success %."""


@dataclass(frozen=True)
class Config:
    """Plot and tabulate success against CPU-minutes."""

    source: Path = RESULTS_DIR / "peer_protocol.json"
    out_dir: Path = RESULTS_DIR


def learned_points(rows: list[dict]) -> dict[str, list[dict]]:
    """The learned controller's rows with a CPU time, by environment (rows of our own protocol under
    "<env> (hjepa protocol)"), sorted by CPU-minutes."""
    by_env: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("controller") == "learned" and row.get("cpu_minutes") is not None:
            protocol = row.get("protocol", "stable-wm")
            key = row["env"] if protocol == "stable-wm" else f"{row['env']} ({protocol} protocol)"
            by_env.setdefault(key, []).append(row)
    return {env: sorted(points, key=lambda r: (r["cpu_minutes"], r["split"])) for env, points in sorted(by_env.items())}


def table(points: dict[str, list[dict]]) -> str:
    """Markdown: one line per (env, recipe) with CPU-minutes and validation / test success."""
    lines = ["| env | recipe | CPU-minutes | validation | test |", "|---|---|---|---|---|"]
    for env, rows in points.items():
        recipes = dict.fromkeys(r["recipe"] for r in rows)
        for recipe in recipes:
            split = {r["split"]: r for r in rows if r["recipe"] == recipe}
            cell = {s: f"{split[s]['success_rate']:.0%} +- {split[s]['stderr']:.1%}" if s in split else "-"
                    for s in ("validation", "test")}
            minutes = next(iter(split.values()))["cpu_minutes"]
            lines.append(f"| {env} | {recipe} | {minutes:.1f} | {cell['validation']} | {cell['test']} |")
    return "\n".join(lines) + "\n"


def plot(points: dict[str, list[dict]], path: Path) -> None:
    fig = Figure(figsize=(4.2 * len(points), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(points), squeeze=False)[0]
    for ax, (env, rows) in zip(axes, points.items()):
        for split, filled in (("validation", False), ("test", True)):
            for family, recipes in FAMILIES.items():
                chain = [r for name in recipes for r in rows if r["recipe"] == name and r["split"] == split]
                if len(chain) > 1:
                    ax.plot([r["cpu_minutes"] for r in chain], [100 * r["success_rate"] for r in chain],
                            "-", color="C0" if filled else "C1", alpha=0.6, label=f"{family} ({split})")
            for r in (r for r in rows if r["split"] == split):
                ax.errorbar(r["cpu_minutes"], 100 * r["success_rate"], yerr=100 * r["stderr"], fmt="o",
                            mfc="C0" if filled else "white", mec="C0" if filled else "C1", ecolor="gray", capsize=2)
                if filled:
                    ax.annotate(r["recipe"], (r["cpu_minutes"], 100 * r["success_rate"]), fontsize=6,
                                xytext=(3, -9), textcoords="offset points")
        for k, (peer, value) in enumerate(PUBLISHED.get(env, {}).items()):
            ax.axhline(value, ls="--", lw=0.8, color=f"C{k + 2}", label=f"{peer} (published)")
        if env in TARGETS:
            ax.axhline(TARGETS[env], ls=":", lw=1.2, color="black", label="target (issue 18)")
        ax.set_xlim(0, 1.15 * max(r["cpu_minutes"] for r in rows))
        ax.set(title=env, xlabel="CPU-minutes (data + training + planning, 1 thread)", ylabel="success %", ylim=(0, 102))
        ax.legend(fontsize=6, loc="lower right")
    fig.savefig(path, dpi=120)


def main(config: Config) -> Path:
    rows = json.loads(Path(config.source).read_text())["rows"]
    points = learned_points(rows)
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    png = Path(config.out_dir) / "peer_protocol_curves.png"
    plot(points, png)
    (Path(config.out_dir) / "peer_protocol_curves.md").write_text(
        "Success against CPU-minutes (learned controller; hollow validation, filled test): "
        "`python benchmarks/peer_protocol_curves.py`\n\n![success against CPU-minutes](peer_protocol_curves.png)\n\n"
        + table(points))
    return png


if __name__ == "__main__":
    print(main(tyro.cli(Config)))
