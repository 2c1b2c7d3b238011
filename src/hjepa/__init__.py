"""hjepa: autonomous agents after LeCun's *A Path Towards Autonomous Machine Intelligence*."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hjepa")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
