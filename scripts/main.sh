#!/usr/bin/env bash
# The main job: set up, then train and test the vanilla RNN and the GRU with the
# assignment's 'seed' preset and the 'default' preset; prints one results table
# (also written to runs/compare.md). Extra arguments go to `textrnn compare`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
textrnn compare --out runs --results runs "$@"
