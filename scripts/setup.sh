#!/usr/bin/env bash
# Create .venv and install textrnn with its test tools. torch is pinned first so pip
# takes the CPU wheel this machine holds instead of downloading a multi-GB CUDA build;
# pyproject.toml itself declares a range for users.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-latex.sh
bash scripts/install-chromium.sh
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,word2vec,serve,onnx]"
