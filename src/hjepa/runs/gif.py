"""Animated GIFs of observation sequences (Pillow), e.g. 64x64 Two Rooms episodes."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from hjepa.errors import InputError
from hjepa.runs.run_dir import atomic_write_bytes

_SEPARATOR = 2  # pixels (before upscaling) between tiled panels
_SEPARATOR_VALUE = 255


def _to_uint8_frames(frames, index: int) -> np.ndarray:
    """``frames (T, H, W, 3|1) or (T, H, W)`` uint8, or float in [0, 1] -> ``(T, H, W, 3)`` uint8."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or arr.shape[0] < 1:
        raise InputError(f"frames[{index}] must have shape (T, H, W, 3) with T >= 1, got {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise InputError(f"frames[{index}] must be uint8 or float in [0, 1], got {arr.dtype}")
        if not np.isfinite(arr).all():
            raise InputError(f"frames[{index}] contain NaN or inf")
        arr = (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return arr


def tile_videos(videos: Sequence[np.ndarray], ncols: int | None = None) -> np.ndarray:
    """Tile ``videos`` (each ``(T_i, H_i, W_i, 3)`` uint8) into one ``(T, H', W', 3)`` grid.

    Shorter videos hold their last frame; smaller panels are padded with black. The grid has
    ``ncols`` columns (default ``ceil(sqrt(n))``), separated by white lines.
    """
    n = len(videos)
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    t = max(v.shape[0] for v in videos)
    h = max(v.shape[1] for v in videos)
    w = max(v.shape[2] for v in videos)
    s = _SEPARATOR
    grid = np.full((t, nrows * h + (nrows - 1) * s, ncols * w + (ncols - 1) * s, 3), _SEPARATOR_VALUE, np.uint8)
    for k, video in enumerate(videos):
        r, c = divmod(k, ncols)
        y0, x0 = r * (h + s), c * (w + s)
        grid[:, y0 : y0 + h, x0 : x0 + w] = 0
        padded = np.concatenate([video, np.repeat(video[-1:], t - video.shape[0], axis=0)], axis=0)
        grid[:, y0 : y0 + video.shape[1], x0 : x0 + video.shape[2]] = padded
    return grid


def write_gif(frames, out_path: Path | str, fps: float = 10, scale: int = 4, ncols: int | None = None) -> Path:
    """Write an animated, looping GIF.

    Args:
        frames: ``(T, H, W, 3)`` uint8 (or float in [0, 1], or ``(T, H, W)`` grey), a numpy array
            or tensor; or a list of such videos, tiled side by side into a grid.
        out_path: destination ``.gif``; written atomically.
        fps: frames per second.
        scale: integer nearest-neighbour upscaling, so 64x64 frames are visible.
        ncols: grid columns when ``frames`` is a list.
    Note: Pillow merges identical consecutive frames (adding their durations).
    """
    if fps <= 0 or scale < 1:
        raise InputError(f"fps must be > 0 and scale >= 1, got fps={fps}, scale={scale}")
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise InputError("frames is an empty list")
        video = tile_videos([_to_uint8_frames(v, i) for i, v in enumerate(frames)], ncols)
    else:
        video = _to_uint8_frames(frames, 0)
    if scale > 1:
        video = video.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(frame) for frame in video]
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(20, int(round(1000.0 / fps))),
        loop=0,
    )
    return atomic_write_bytes(Path(out_path), buf.getvalue())
