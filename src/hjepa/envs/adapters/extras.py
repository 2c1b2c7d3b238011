"""Optional dependencies: import them only when an adapter is built, and name the extra that
installs them when they are missing.

``import hjepa`` and every command that does not touch an external environment work without
the ``envs`` extra; building a PushT / PointMaze / Pendulum / reacher adapter without it raises
:class:`MissingExtraError` (an ``ImportError``) that says ``pip install 'hjepa[envs]'``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

EXTRA = "envs"


class MissingExtraError(ImportError):
    """An optional package is not installed; the message names the pip extra that brings it."""


def require(module: str, package: str, what: str, extra: str = EXTRA) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError`.

    Args:
        module: dotted module name, e.g. ``"gym_pusht.envs.pusht"``.
        package: the PyPI distribution that provides it (for the message), e.g. ``"gym-pusht"``.
        what: what needs it, e.g. ``"the PushT adapter"``.
        extra: the hjepa extra that installs ``package``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:  # ModuleNotFoundError, or a broken install of a dependency
        raise MissingExtraError(
            f"{what} needs the optional package {package!r} (import of {module!r} failed: {error}); "
            f"install it with: pip install 'hjepa[{extra}]'"
        ) from error


def use_egl_by_default() -> None:
    """Let MuJoCo render headless through EGL unless the user chose a backend (MUJOCO_GL).

    Must run before ``mujoco`` is first imported; an explicit ``MUJOCO_GL`` (``osmesa``,
    ``glfw``) is left untouched.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
