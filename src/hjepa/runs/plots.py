"""Figures for runs: training curves and planned / executed paths in Two Rooms.

Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas, never through pyplot, so
nothing needs a display, no global figure registry grows, and the process backend is untouched.
Files are written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hjepa.errors import InputError
from hjepa.runs.metrics import metric_series, numeric_keys
from hjepa.runs.run_dir import atomic_write_bytes

_PANEL_INCHES = 3.0
_MAX_FIG_INCHES = 16.0


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    ncols = max(1, min(max_cols, n))
    return math.ceil(n / ncols), ncols


def _new_figure(nrows: int, ncols: int, panel_w: float, panel_h: float) -> tuple[Figure, np.ndarray]:
    width = min(_MAX_FIG_INCHES, panel_w * ncols)
    height = min(_MAX_FIG_INCHES, panel_h * nrows)
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    return fig, axes


def _save(fig: Figure, out_path: Path | str) -> Path:
    out_path = Path(out_path)
    fmt = out_path.suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    fig.clear()
    return atomic_write_bytes(out_path, buf.getvalue())


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def plot_training_curves(
    metrics: list[dict], keys: list[str] | None, out_path: Path | str, max_cols: int = 3
) -> Path:
    """One subplot per metric key, x = step, y log-scaled when all values are positive and span
    more than two decades.

    Args:
        metrics: records as returned by ``read_metrics``.
        keys: metrics to plot; ``None`` = every numeric key except ``step``.
        out_path: image file (``.png`` by default format).
    """
    if keys is None:
        keys = numeric_keys(metrics)
    if not keys:
        raise InputError("no numeric metrics to plot")
    nrows, ncols = _grid(len(keys), max_cols)
    fig, axes = _new_figure(nrows, ncols, _PANEL_INCHES * 1.3, _PANEL_INCHES)
    for ax, key in zip(axes, keys):
        steps, values = metric_series(metrics, key)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if not values:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.plot(steps, values, lw=1.0, marker="." if len(values) < 30 else None)
        lo, hi = min(values), max(values)
        if lo > 0 and hi / lo > 100.0:
            ax.set_yscale("log")
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, out_path)


def plot_paths(
    walls,
    executed: Sequence,
    planned: Sequence | None,
    starts,
    goals,
    out_path: Path | str,
    titles: Sequence[str] | None = None,
    successes: Sequence[bool] | None = None,
    success_radius: float = 4.5,
    max_cols: int = 4,
) -> Path:
    """A grid of panels, one per episode, in pixel coordinates ``(x, y)`` = ``(col, row)``.

    Args:
        walls: wall image ``(H, W)`` shared by all panels, or a list with one per panel.
        executed: list of executed paths ``(T, 2)`` (solid line).
        planned: list of planned paths ``(T', 2)`` (dashed), entries may be None; or None.
        starts: ``(P, 2)`` start positions (circles), or None to use each path's first point.
        goals: ``(P, 2)`` goal positions (stars), or None.
        out_path: image file.
        titles: panel titles; the success verdict is appended.
        successes: per-episode success; by default the final point within ``success_radius``
            of the goal (when goals are given).
    """
    n = len(executed)
    if n == 0:
        raise InputError("executed is empty: nothing to plot")
    wall_list = list(walls) if isinstance(walls, (list, tuple)) else [walls] * n
    if len(wall_list) != n:
        raise InputError(f"got {len(wall_list)} wall images for {n} paths")
    for name, seq in (("planned", planned), ("titles", titles), ("successes", successes)):
        if seq is not None and len(seq) != n:
            raise InputError(f"{name} has {len(seq)} entries for {n} paths")
    paths = [_np(p).reshape(-1, 2) for p in executed]
    start_arr = _np(starts).reshape(-1, 2) if starts is not None else np.stack([p[0] for p in paths])
    goal_arr = _np(goals).reshape(-1, 2) if goals is not None else None
    if len(start_arr) != n or (goal_arr is not None and len(goal_arr) != n):
        raise InputError(f"starts and goals must have {n} rows")
    if successes is None and goal_arr is not None:
        successes = [bool(np.linalg.norm(p[-1] - g) <= success_radius) for p, g in zip(paths, goal_arr)]

    nrows, ncols = _grid(n, max_cols)
    fig, axes = _new_figure(nrows, ncols, _PANEL_INCHES, _PANEL_INCHES)
    for k, ax in enumerate(axes[:n]):
        image = _np(wall_list[k])
        if image.ndim != 2:
            raise InputError(f"wall image {k} must have shape (H, W), got {image.shape}")
        ax.imshow(image, cmap="Greys", vmin=0.0, vmax=max(1.0, float(image.max())), origin="upper",
                  interpolation="nearest")
        if planned is not None and planned[k] is not None:
            plan = _np(planned[k]).reshape(-1, 2)
            ax.plot(plan[:, 0], plan[:, 1], "--", color="tab:orange", lw=1.2, label="planned")
        ax.plot(paths[k][:, 0], paths[k][:, 1], "-", color="tab:blue", lw=1.5, label="executed")
        ax.plot(*start_arr[k], "o", color="tab:green", ms=7, label="start")
        if goal_arr is not None:
            ax.plot(*goal_arr[k], "*", color="tab:red", ms=12, label="goal")
        title = titles[k] if titles is not None else f"episode {k}"
        if successes is not None:
            title += " - " + ("success" if successes[k] else "fail")
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=6, loc="lower left", framealpha=0.7)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, out_path)
