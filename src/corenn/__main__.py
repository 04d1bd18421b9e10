"""``python -m corenn``: the ``corenn`` command (``torchrun -m corenn train ...`` starts it in every process)."""

import sys

from corenn.cli import main

if __name__ == "__main__":
    sys.exit(main())
