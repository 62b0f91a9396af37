"""Run the side-by-side speed benchmark: same as `textrnn bench` (see --help)."""
import sys

from textrnn.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
