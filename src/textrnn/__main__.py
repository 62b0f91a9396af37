"""``python -m textrnn``, the same as the ``textrnn`` command; what torchrun starts:
``torchrun --nproc-per-node N -m textrnn train ...``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
