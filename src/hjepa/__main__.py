"""``python -m hjepa ...``: the ``hjepa`` command (also what ``torchrun -m hjepa`` launches)."""

import sys

from hjepa.cli import main

if __name__ == "__main__":
    sys.exit(main())
