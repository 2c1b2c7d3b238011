"""A TensorBoard mirror of a run: scalars and images as event files under ``<run>/tensorboard/``.

``metrics.jsonl`` stays the record of a run; TensorBoard is a view on it for watching runs live
(``tensorboard --logdir runs``). The writer is optional twice over: off unless asked for, and a
no-op (one warning, no error) when the ``tensorboard`` package is not installed
(``pip install 'hjepa[tensorboard]'``). ``torch.utils.tensorboard`` is imported on the first write,
not with this module, so runs without TensorBoard do not pay its import time.
"""

from __future__ import annotations

import atexit
import importlib.util
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence

from hjepa.errors import InputError

TENSORBOARD_DIR = "tensorboard"
MAX_FRAMES = 64
"""At most this many frames of a GIF go to TensorBoard (evenly spaced when it has more)."""
FLUSH_SECONDS = 10
"""Events reach the disk at least this often (TensorBoard's default is 120 s)."""

_warned = False


def tensorboard_available() -> bool:
    """Whether the ``tensorboard`` package is installed (looked up, not imported)."""
    return importlib.util.find_spec("tensorboard") is not None


def _warn_off(reason: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"TensorBoard logging is off: {reason} (pip install 'hjepa[tensorboard]'); "
                      "metrics.jsonl is written as always", stacklevel=4)


def scalar_value(value: Any) -> float | None:
    """The float TensorBoard plots for a logged value: numbers (booleans as 0 / 1), None for the rest
    (strings, lists, dicts, None, NaN and inf, which ``metrics.jsonl`` stores as null)."""
    if isinstance(value, (bool, int, float)) and math.isfinite(value):
        return float(value)
    return None


def gif_frames(image: Image.Image, max_frames: int = MAX_FRAMES) -> list[tuple[int, np.ndarray]]:
    """``[(frame index, uint8 (H, W, 3))]`` of an animated image, at most ``max_frames`` of them,
    evenly spaced over the whole animation, first and last included."""
    count = getattr(image, "n_frames", 1)
    kept = min(count, max_frames)
    keep = sorted({round(i * (count - 1) / max(kept - 1, 1)) for i in range(kept)})
    frames = []
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        if index in keep:
            frames.append((index, np.asarray(frame.convert("RGB"))))
        if index >= keep[-1]:
            break
    return frames


class TensorBoardWriter:
    """Scalars and images of one run for TensorBoard under ``logdir``. ``enabled`` is False, and
    every method a no-op, when ``logdir`` is None or tensorboard is missing. The event file is
    opened at the first write, so a run that writes nothing leaves no ``tensorboard/`` directory."""

    def __init__(self, logdir: Path | str | None) -> None:
        self.logdir = None if logdir is None else Path(logdir)
        self.enabled = self.logdir is not None and tensorboard_available()
        if self.logdir is not None and not self.enabled:
            _warn_off("the tensorboard package is not installed")
        self._writer: Any = None

    def _get(self) -> Any:
        """The open ``SummaryWriter``, opened now if needed; None (and ``enabled`` False) when it cannot be imported."""
        if self._writer is None and self.enabled:
            try:  # optional and slow to import: only when used
                from torch.utils.tensorboard import SummaryWriter
            except Exception as error:  # missing or broken (protobuf, numpy versions): never stop the run
                self.enabled = False
                _warn_off(f"torch.utils.tensorboard cannot be imported ({error})")
                return None
            self._writer = SummaryWriter(log_dir=str(self.logdir), flush_secs=FLUSH_SECONDS)
            atexit.register(self.close)  # events still reach the disk if nobody calls close()
        return self._writer

    def scalars(self, values: dict, step: int | None) -> None:
        """Each numeric value of ``values`` (see ``scalar_value``) as a scalar: tag = its key,
        step = ``step`` (0 when None)."""
        if not self.enabled:
            return
        numbers = {str(k): v for k, value in values.items() if (v := scalar_value(value)) is not None}
        writer = self._get() if numbers else None
        if writer is None:
            return
        for tag, number in numbers.items():
            writer.add_scalar(tag, number, global_step=0 if step is None else int(step))

    def image_file(self, path: Path | str, tag: str, step: int = 0) -> None:
        """A PNG (one image at ``step``) or a GIF (one image per frame at steps = frame indices, at
        most ``MAX_FRAMES``) under ``tag``.

        Raises:
            FileNotFoundError: ``path`` does not exist (only when the writer is on).
            InputError: ``path`` is not a PNG or GIF file.
        """
        if not self.enabled:
            return
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"cannot publish {path}: no such file")
        if path.suffix.lower() not in (".png", ".gif"):
            raise InputError(f"cannot publish {path}: only .png and .gif files go to TensorBoard")
        writer = self._get()
        if writer is None:
            return
        with Image.open(path) as image:
            if path.suffix.lower() == ".gif":
                for index, frame in gif_frames(image):
                    writer.add_image(tag, frame, global_step=index, dataformats="HWC")
            else:
                mode = "RGBA" if "A" in image.getbands() else "RGB"
                writer.add_image(tag, np.asarray(image.convert(mode)), global_step=step, dataformats="HWC")

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file; a later write opens a new one."""
        if self._writer is not None:
            self._writer.close()
            atexit.unregister(self.close)
            self._writer = None
