"""Pixel adapters of external environments (PushT, PointMaze, Pendulum, dm-control reacher).

Importing this package needs no optional dependency; building an adapter does (``hjepa[envs]``).
"""

from hjepa.envs.adapters.base import PixelEnv, PixelSpec
from hjepa.envs.adapters.batch import PixelEnvBatch
from hjepa.envs.adapters.catalog import ENV_NAMES, EnvFunctions, env_functions
from hjepa.envs.adapters.extras import MissingExtraError

__all__ = ["ENV_NAMES", "EnvFunctions", "MissingExtraError", "PixelEnv", "PixelEnvBatch", "PixelSpec", "env_functions"]
