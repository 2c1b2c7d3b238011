"""Singular value spectra of embeddings, to tell healthy from collapsed representations.

A healthy embedding spreads variance over many directions: its sorted singular values decay
slowly. Dimensional collapse shows as a cliff after the first few values (down to float rounding,
~1e-16 of the largest, for exactly low-rank embeddings); complete collapse as all values ~0.
Plot several spectra on one log-scale figure to compare them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from hjepa.errors import InputError
from hjepa.runs.run_dir import atomic_write_bytes


def singular_value_spectrum(z: Tensor, normalize: bool = True) -> Tensor:
    """Singular values of the centred embeddings, largest first.

    Args:
        z: embeddings ``(N, D)``, ``N >= 2``.
        normalize: when true divide by their sum, so the values are the shares of the total
            "spread" (sum 1; comparable across embedding scales and dimensions). When false return
            the raw singular values of ``z - mean(z)``. For embeddings that are all equal the
            values are all 0 either way.
    Returns:
        ``float64 (min(N, D),)`` on the CPU, non-increasing.
    """
    if not isinstance(z, Tensor) or z.dim() != 2:
        raise InputError(f"z must have shape (N, D), got {tuple(getattr(z, 'shape', ()))}")
    if z.shape[0] < 2 or z.shape[1] < 1:
        raise InputError(f"z needs N >= 2 and D >= 1, got shape {tuple(z.shape)}")
    z = z.detach().double().cpu()
    if not torch.isfinite(z).all():
        raise InputError("z contains NaN or inf")
    s = torch.linalg.svdvals(z - z.mean(dim=0))
    if normalize:
        total = s.sum()
        s = s / total if total > 0 else torch.zeros_like(s)
    return s


def plot_spectrum(
    spectra: dict[str, Tensor],
    path: str | Path,
    title: str = "singular value spectrum",
    floor: float = 1e-12,
) -> Path:
    """One line per label: singular value (log scale) against its 1-based index.

    Args:
        spectra: ``{label: values (K,)}``, e.g. from ``singular_value_spectrum``; lengths may differ.
        path: output image (``.png`` unless the suffix names another matplotlib format); parent
            directories are created and the file is written atomically.
        title: figure title.
        floor: values below it (including zeros of collapsed directions) are drawn at ``floor``
            so they stay visible on the log axis.
    Returns:
        ``path`` as a ``Path``.
    """
    if not spectra:
        raise InputError("spectra is empty: pass at least one {label: values}")
    if floor <= 0:
        raise InputError(f"floor must be > 0 for a log axis, got {floor}")
    curves = {}
    for label, values in spectra.items():
        v = torch.as_tensor(values).detach().double().cpu()
        if v.dim() != 1 or v.numel() == 0:
            raise InputError(f"spectrum {label!r} must be a non-empty 1-D tensor, got shape {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise InputError(f"spectrum {label!r} contains NaN or inf")
        curves[str(label)] = np.clip(v.numpy(), floor, None)
    fig = Figure(figsize=(6.0, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, v in curves.items():
        ax.plot(np.arange(1, v.size + 1), v, label=label, linewidth=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("index (largest first)")
    ax.set_ylabel("singular value")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".").lower() or "png")
    fig.clear()
    return atomic_write_bytes(path, buf.getvalue())
